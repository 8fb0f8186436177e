"""Where the stages read and write, relative to the repository root (dvc.yaml says the same)."""
from pathlib import Path

PREPARED = Path("data/prepared")
TOKENIZER = PREPARED / "tokenizer"
CLASSES = PREPARED / "classes.json"
FP32_DIR = Path("models_save/fp32")
INT8_DIR = Path("models_save/int8")
ONNX_DIR = Path("models_save/onnx")  # fp32/ and int8/ when quantize.backends has onnxruntime
CHECKPOINTS = Path("models_save/checkpoints")
DVCLIVE_DIR = Path("dvclive")
METRICS = Path("metrics")
PLOTS = Path("plots")


def prepared_split(name):
    return PREPARED / f"{name}.tsv"


def built_models():
    """Every model directory the pipeline has built, by name: fp32 and int8 (PyTorch) first."""
    models = {"fp32": FP32_DIR, "int8": INT8_DIR}
    for kind in ("fp32", "int8"):
        if (ONNX_DIR / kind).is_dir():
            models[f"onnx_{kind}"] = ONNX_DIR / kind
    return models
