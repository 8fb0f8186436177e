"""Where the stages read and write, relative to the repository root (dvc.yaml says the same)."""

from pathlib import Path

PREPARED = Path("data/prepared")
TOKENIZER = PREPARED / "tokenizer"
CLASSES = PREPARED / "classes.json"
# Every backend's models: MODELS/<its subdir>/{fp32,int8} (bert_int8/backends/base.py);
# PyTorch's subdir is empty, so training's FP32 model is models_save/fp32.
MODELS = Path("models_save")
FP32_DIR = MODELS / "fp32"
INT8_DIR = MODELS / "int8"
CHECKPOINTS = Path("models_save/checkpoints")
# The student (stage distill) and its models: the same layout under a root of their own.
STUDENT = MODELS / "student"
STUDENT_FP32_DIR = STUDENT / "fp32"
DISTILL_CHECKPOINTS = MODELS / "checkpoints-distill"
CLASSICAL_DIR = MODELS / "classical"
DVCLIVE_DIR = Path("dvclive")
DVCLIVE_DISTILL_DIR = Path("dvclive-distill")
METRICS = Path("metrics")
PLOTS = Path("plots")


def prepared_split(name):
    return PREPARED / f"{name}.tsv"
