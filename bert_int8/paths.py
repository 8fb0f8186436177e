"""Where the stages read and write, relative to the repository root (dvc.yaml says the same)."""

from pathlib import Path

PREPARED = Path("data/prepared")
TOKENIZER = PREPARED / "tokenizer"
CLASSES = PREPARED / "classes.json"
FP32_DIR = Path("models_save/fp32")
INT8_DIR = Path("models_save/int8")
ONNX_DIR = Path("models_save/onnx")  # fp32/ and int8/ when quantize.backends has onnxruntime
OPENVINO_DIR = Path("models_save/openvino")  # fp32/ and int8/ when quantize.backends has openvino
CHECKPOINTS = Path("models_save/checkpoints")
DVCLIVE_DIR = Path("dvclive")
METRICS = Path("metrics")
PLOTS = Path("plots")


def prepared_split(name):
    return PREPARED / f"{name}.tsv"
