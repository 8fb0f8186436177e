"""The files of the PyTorch backend's model directories: plain names, read both by the lean side
that recognises a directory (backends/pytorch.py) and by the torch side that writes and loads an
int8 model (backends/torch_int8.py), so neither imports the other for them."""

FP32_WEIGHTS = ("model.safetensors", "pytorch_model.bin")  # save_pretrained's, and older saves
RECIPE_FILE = "quantization_recipe.json"
WEIGHTS_FILE = "int8_state_dict.pt"
