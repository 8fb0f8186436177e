"""Reading a metrics file another stage wrote: one line naming the file when it is missing or
corrupt, never a traceback (figures, benchmark, load_test, `serve auto`, and the class names
prepare_data wrote, read them)."""

import json
from pathlib import Path

from bert_int8.core.errors import PipelineError


def read_metrics(path, missing="run the stage that writes it: dvc repro", expect=dict):
    """The JSON object (or `expect`) in `path`; PipelineError naming the file if it is missing
    (with the `missing` hint), unreadable, not JSON or not of that type."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found ({missing})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PipelineError(f"{path}: cannot read it ({err})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise PipelineError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(data, expect):
        kind = "object" if expect is dict else expect.__name__
        raise PipelineError(f"{path}: expected a JSON {kind}, got {type(data).__name__}")
    return data
