"""The typed schema of params.yaml: every key, its type, its allowed range and its default.

Every stage loads params through `load_params`, which validates the whole file (an unknown
key or a bad value anywhere stops any stage) and returns the sections that stage asked for.
dvc.yaml lists, per stage, exactly the keys that stage reads.
"""

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import PipelineError, first_line


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Section):
    # thucnews: class.txt + train/dev/test.txt (title<TAB>label_id); csv, tsv, jsonl: train.<ext>
    # (dev.<ext>, test.<ext> when there are) in raw_dir; hf: raw_dir is a dataset saved with
    # save_to_disk, or a hub id (bert_int8/data_formats.py).
    format: Literal["thucnews", "csv", "tsv", "jsonl", "hf"] = "thucnews"
    raw_dir: str = "data/raw"
    text_column: str = "text"
    label_column: str = "label"
    # The label list, in order; null: the train split's labels, sorted (csv/tsv/jsonl/hf).
    labels: list[str] | None = None
    # A missing dev or test split is cut from train, seeded and stratified, this share of it.
    dev_fraction: float = Field(0.1, gt=0, lt=0.5)
    test_fraction: float = Field(0.1, gt=0, lt=0.5)
    # A seeded, stratified subset of the train split; null keeps all of it.
    max_train_samples: int | None = Field(None, ge=10)
    seed: int = 42
    # Titles are truncated to this many tokens, [CLS] and [SEP] included.
    max_seq_length: int = Field(32, ge=4, le=512)


class TokenizerParams(Section):
    # Used only when model.pretrained is null: a WordPiece vocabulary trained on the train split.
    vocab_size: int = Field(16000, ge=100, le=200_000)
    min_frequency: int = Field(2, ge=1)
    # true: pieces may span several Chinese characters (frequent words become one token);
    # false: one token per character, as bert-base-chinese does.
    multi_char: bool = True


class ModelParams(Section):
    # A hub id (bert-base-chinese) or a local directory made by save_pretrained; null trains
    # the small BERT below from scratch.
    pretrained: str | None = None
    # A classifier fine-tuned elsewhere (a save_pretrained directory, or a hub id where the hub
    # is reachable): train checks its labels against the data's and passes it on untrained;
    # quantize, evaluate, benchmark, predict and serve run as usual. Its tokenizer is used.
    finetuned: str | None = None
    layers: int = Field(2, ge=1, le=48)
    hidden: int = Field(256, ge=8)
    heads: int = Field(4, ge=1)
    intermediate: int = Field(1024, ge=8)
    dropout: float = Field(0.1, ge=0.0, lt=1.0)

    @model_validator(mode="after")
    def _one_source(self):
        if self.pretrained and self.finetuned:
            raise ValueError("model.pretrained and model.finetuned: set one of them, not both")
        return self

    @model_validator(mode="after")
    def _heads_divide_hidden(self):
        if self.hidden % self.heads:
            raise ValueError(f"model.hidden ({self.hidden}) must be a multiple of model.heads ({self.heads})")
        return self


class TrainParams(Section):
    epochs: float = Field(2.0, gt=0)
    batch_size: int = Field(64, ge=1)
    # null: 1e-3 for a model trained from scratch, 2e-5 when fine-tuning model.pretrained,
    # so switching to bert-base-chinese stays one params change.
    learning_rate: float | None = Field(None, gt=0, lt=1)
    warmup_ratio: float = Field(0.06, ge=0, lt=1)
    weight_decay: float = Field(0.01, ge=0)
    seed: int = 42
    # Threads of this machine, shared by its training processes.
    threads: int = Field(2, ge=1)
    # >1: run under torchrun as this many local processes (DDP; batch_size stays the global batch).
    processes: int = Field(1, ge=1)

    @model_validator(mode="after")
    def _batch_divides_over_processes(self):
        if self.batch_size % self.processes:
            raise ValueError(
                f"train.batch_size ({self.batch_size}, the global batch) must divide evenly over "
                f"train.processes ({self.processes})"
            )
        return self

    def resolved_learning_rate(self, pretrained):
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-5 if pretrained else 1e-3


class QuantizeParams(Section):
    scheme: Literal["per_tensor", "per_channel"] = "per_tensor"
    embeddings: Literal["fp32", "int8"] = "fp32"
    # Module-name patterns (fnmatch) whose nn.Linear stay FP32, e.g. "classifier".
    keep_fp32: list[str] = []
    # torch: torch.ao dynamic quantization (always built, the reference method);
    # onnxruntime: also export to ONNX and quantize with ONNX Runtime (scheme applies too);
    # openvino: also convert to OpenVINO IR and quantize statically with NNCF.
    backends: list[Literal["torch", "onnxruntime", "openvino"]] = ["torch", "onnxruntime", "openvino"]
    # Train titles (a seeded sample) that calibrate NNCF's static int8 activation ranges.
    calibration_samples: int = Field(300, ge=1, le=100_000)
    # Largest dev macro-F1 drop allowed (int8 vs FP32); beyond it the most sensitive layers stay
    # FP32 until it holds. null: no check.
    max_f1_drop: float | None = Field(0.003, ge=0, le=1)
    # When the budget needs every Linear kept in FP32 (or still fails), stop with an error
    # unless this is true.
    allow_over_budget: bool = False

    @model_validator(mode="after")
    def _torch_always(self):
        if "torch" not in self.backends:
            raise ValueError("quantize.backends must include 'torch' (the reference int8 model)")
        return self


class EvaluateParams(Section):
    batch_size: int = Field(256, ge=1)
    threads: int = Field(2, ge=1)


class BenchmarkParams(Section):
    threads: int = Field(2, ge=1)
    seq_len: int = Field(32, ge=4, le=512)
    batch_size: int = Field(64, ge=2)
    warmup: int = Field(5, ge=0)
    runs: int = Field(50, ge=3)
    throughput_runs: int = Field(5, ge=1)
    # Test titles timed with dynamic padding vs padded to seq_len.
    title_samples: int = Field(2000, ge=1)
    # Also time a reference shape (random weights): bert-base-chinese to compare with the
    # reference, or model.finetuned / model.pretrained's own config when one is set.
    reference_shape: bool = True


class LoadTestParams(Section):
    # Concurrent clients, each posting back to back; one run per (concurrency, titles per request).
    concurrency: list[Annotated[int, Field(ge=1, le=256)]] = [1, 8, 32]
    texts_per_request: list[Annotated[int, Field(ge=1, le=256)]] = [1, 64]
    seconds: float = Field(5.0, gt=0, le=600)
    threads: int = Field(2, ge=1)
    # The service's dynamic batching (bert-int8 serve --max-batch / --max-wait-ms).
    max_batch: int = Field(64, ge=1)
    max_wait_ms: float = Field(0.0, ge=0, le=1000)
    max_queue: int = Field(4096, ge=1)


class Params(Section):
    data: DataParams = DataParams()
    tokenizer: TokenizerParams = TokenizerParams()
    model: ModelParams = ModelParams()
    train: TrainParams = TrainParams()
    quantize: QuantizeParams = QuantizeParams()
    evaluate: EvaluateParams = EvaluateParams()
    benchmark: BenchmarkParams = BenchmarkParams()
    load_test: LoadTestParams = LoadTestParams()


def _one_line(err: ValidationError, path) -> str:
    first = err.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "value_error":  # our validators' own message, without pydantic's prefix
        msg = msg.removeprefix("Value error, ")
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
