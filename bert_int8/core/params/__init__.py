"""The typed schema of params.yaml: every key, its type, its allowed range and its default.

Every stage loads params through `load_params`, which validates the whole file (an unknown
key or a bad value anywhere stops any stage) and returns all of them; each stage reads its
own, and dvc.yaml lists, per stage, exactly the keys that stage reads.
"""

import re
from pathlib import Path

import yaml
from pydantic import ValidationError, model_validator

from bert_int8.core.errors import PipelineError, first_line

# the sections, by the stages that read them; imported here so that callers name them from one place
from .base import Section, per_process_batch  # noqa: F401
from .data import DataParams, ModelParams, TokenizerParams  # noqa: F401
from .measure import BenchmarkParams, EvaluateParams, LoadTestParams  # noqa: F401
from .quantize import QatCaseParams, QuantizeParams  # noqa: F401
from .training import ClassicalParams, DistillParams, TrainParams  # noqa: F401


class Params(Section):
    data: DataParams = DataParams()
    tokenizer: TokenizerParams = TokenizerParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    distill: DistillParams = DistillParams()
    classical: ClassicalParams = ClassicalParams()
    quantize: QuantizeParams = QuantizeParams()
    qat_case: QatCaseParams = QatCaseParams()
    evaluate: EvaluateParams = EvaluateParams()
    benchmark: BenchmarkParams = BenchmarkParams()
    load_test: LoadTestParams = LoadTestParams()

    @model_validator(mode="after")
    def _student_smaller(self):
        # Only the model trained from scratch has its shape here; a pretrained or fine-tuned
        # teacher's is read by the distill stage, which makes the same check against it.
        d, m = self.distill, self.model
        if m.pretrained or m.finetuned:
            return self
        hidden, intermediate, heads = d.hidden or m.hidden, d.intermediate or m.intermediate, d.heads or m.heads
        if hidden % heads:
            key = "distill.heads" if d.heads else "distill.hidden"
            raise ValueError(f"{key}: the student's hidden size {hidden} is not a multiple of its {heads} heads")
        if d.layers >= m.layers and hidden >= m.hidden and intermediate >= m.intermediate:
            raise ValueError(
                f"distill.layers: a student of {d.layers} layers, hidden {hidden}, intermediate {intermediate} is no "
                f"smaller than its teacher (model.layers {m.layers}, hidden {m.hidden}, intermediate {m.intermediate})"
            )
        return self


def _one_line(err: ValidationError, path) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "value_error":  # our validators' own message, without pydantic's prefix
        msg = msg.removeprefix("Value error, ")
        if re.match(r"[a-z_]+\.[a-z_]+[ :]", msg):  # it names its key itself
            return f"{path}: {msg}"
    elif "input" in first and first["type"] != "value_error":
        msg = f"{msg} (got {first['input']!r})"
    return f"{path}: {key}: {msg}"


def parse_params(raw, path="params.yaml") -> Params:
    """Validate a params mapping; a bad key or value raises PipelineError naming it."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise PipelineError(f"{path}: expected a mapping of sections, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise PipelineError(_one_line(err, path)) from None


def load_params(path="params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the stage from the repository root)") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise PipelineError(f"{path}: not valid YAML: {first_line(err)}") from None
    return parse_params(raw, path)
