"""Whether a path is a saved model's directory at all: one that holds a readable config.json.
Every backend's directory has one; kept apart from model_dir (which asks the backends) so that
training and data preparation, which only check their own model, depend on nothing else."""

import json
from pathlib import Path

from bert_int8.core.errors import PipelineError


def check_model_dir(path):
    """Fail with one line if `path` is not a directory holding a saved model config."""
    path = Path(path)
    if not path.is_dir():
        raise PipelineError(f"{path}: model directory not found")
    config = path / "config.json"
    if not config.is_file():
        raise PipelineError(f"{path}: not a model directory (config.json missing)")
    try:
        json.loads(config.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineError(f"{config}: not valid JSON: {err}") from None
