"""The typed schema of params.yaml: every key, its type, its allowed range and its default.

Every stage loads params through `load_params`, which validates the whole file (an unknown
key or a bad value anywhere stops any stage) and returns all of them; each stage reads its
own, and dvc.yaml lists, per stage, exactly the keys that stage reads.
"""

import re
from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from bert_int8.core import serving_limits
from bert_int8.core.errors import PipelineError, first_line


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataParams(Section):
    format: Literal["thucnews", "csv", "tsv", "jsonl", "hf"] = Field(
        "thucnews",
        description="thucnews: class.txt + train/dev/test.txt (title<TAB>label_id); csv, tsv, jsonl: "
        "train.<ext> (dev.<ext>, test.<ext> when there are) in raw_dir; hf: a dataset saved with "
        "save_to_disk, or a hub id",
    )
    raw_dir: str = Field("data/raw", description="Where the raw data is (a folder, or a saved Hugging Face dataset)")
    text_column: str = Field("text", description="The text column (csv, tsv, jsonl, hf)")
    label_column: str = Field("label", description="The label column (csv, tsv, jsonl, hf)")
    labels: list[str] | None = Field(
        None, description="The label list, in order; null: the train split's labels, sorted (csv/tsv/jsonl/hf)"
    )
    dev_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="A missing dev split is cut from train, seeded and stratified, this share of it"
    )
    test_fraction: float = Field(
        0.1, gt=0, lt=0.5, description="A missing test split is cut from train, seeded and stratified, this share of it"
    )
    max_train_samples: int | None = Field(
        None, ge=10, description="A seeded, stratified subset of the train split; null keeps all of it"
    )
    seed: int = Field(42, description="Seed of the subset and of any cut dev/test split")
    max_seq_length: int = Field(
        32, ge=4, le=512, description="Titles are truncated to this many tokens, [CLS] and [SEP] included"
    )


class TokenizerParams(Section):
    vocab_size: int = Field(
        16000,
        ge=100,
        le=200_000,
        description="Size of the WordPiece vocabulary learned on the train split (only when model.pretrained is null)",
    )
    min_frequency: int = Field(2, ge=1, description="A piece must occur this often in the train split")
    multi_char: bool = Field(
        True,
        description="true: pieces may span several Chinese characters (frequent words become one token); "
        "false: one token per character, as bert-base-chinese does",
    )


class ModelParams(Section):
    pretrained: str | None = Field(
        None,
        description="A hub id (bert-base-chinese) or a local save_pretrained directory to fine-tune; null trains "
        "the small BERT below from scratch",
    )
    finetuned: str | None = Field(
        None,
        description="A classifier fine-tuned elsewhere (save_pretrained directory or hub id): its labels are checked "
        "and it is passed on untrained",
    )
    layers: int = Field(2, ge=1, le=48, description="Encoder layers of the model trained from scratch")
    hidden: int = Field(256, ge=8, description="Hidden size (a multiple of heads)")
    heads: int = Field(4, ge=1, description="Attention heads")
    intermediate: int = Field(1024, ge=8, description="Feed-forward size")
    dropout: float = Field(0.1, ge=0.0, lt=1.0, description="Dropout of hidden states and attention")

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


def per_process_batch(batch_size, processes, over=None, error=PipelineError, section="train"):
    """Each process's share of the global batch; `error` if it does not divide evenly (params
    check <section>.processes; training checks the world size a launcher gave it). `section`:
    whose batch_size it is (train, distill)."""
    if batch_size % processes:
        raise error(
            f"{section}.batch_size ({batch_size}, the global batch) must divide evenly over "
            f"{over or section + '.processes'} ({processes})"
        )
    return batch_size // processes


class TrainParams(Section):
    epochs: float = Field(2.0, gt=0, description="Passes over the train split (a fraction stops mid-way)")
    batch_size: int = Field(64, ge=1, description="The global batch: all processes together")
    learning_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="null: 1e-3 for a model trained from scratch, 2e-5 when fine-tuning model.pretrained",
    )
    warmup_ratio: float = Field(0.06, ge=0, lt=1, description="Share of the steps with a rising learning rate")
    weight_decay: float = Field(0.01, ge=0, description="AdamW weight decay")
    seed: int = Field(42, description="Seed of initialisation, order and dropout")
    threads: int = Field(2, ge=1, description="Threads of this machine, shared by its training processes")
    processes: int = Field(
        1, ge=1, description=">1: run as this many local DDP processes (batch_size stays the global batch)"
    )

    SECTION: ClassVar[str] = "train"  # the section's name in messages (DistillParams: distill)

    @model_validator(mode="after")
    def _batch_divides_over_processes(self):
        per_process_batch(self.batch_size, self.processes, error=ValueError, section=self.SECTION)
        return self

    def resolved_learning_rate(self, pretrained):
        if self.learning_rate is not None:
            return self.learning_rate
        return 2e-5 if pretrained else 1e-3


class QuantizeParams(Section):
    scheme: Literal["per_tensor", "per_channel"] = Field(
        "per_tensor", description="Weight scales: one per matrix, or one per output channel"
    )
    embeddings: Literal["fp32", "int8"] = Field("fp32", description="Word embeddings kept FP32, or int8 (PyTorch)")
    keep_fp32: list[str] = Field(
        [], description='Module-name patterns (fnmatch) whose nn.Linear stay FP32, e.g. "classifier"'
    )
    # Checked against the registry by the stage that builds them (bert_int8.backends.chosen):
    # params.py names no runtime, so that training does not depend on the runtimes' modules.
    backends: list[str] | None = Field(
        None,
        min_length=1,
        description="The runtimes to build int8 models with, by name (`bert-int8 params` lists them after "
        "this table); null: every one. The reference, torch, is always built",
    )
    calibration_samples: int = Field(
        300, ge=1, le=100_000, description="Train titles (a seeded sample) that calibrate static int8"
    )
    max_f1_drop: float | None = Field(
        0.003,
        ge=0,
        le=1,
        description="Largest dev macro-F1 drop allowed (int8 vs FP32); beyond it the most sensitive layers stay "
        "FP32 until it holds; null: no check",
    )
    allow_over_budget: bool = Field(
        False, description="When the budget needs every Linear in FP32 (or still fails): go on instead of stopping"
    )
    qat_steps: int = Field(
        600,
        ge=0,
        le=1_000_000,
        description="When an int8 model misses max_f1_drop, quantization-aware training is tried first (backends "
        "that support it: OpenVINO, by NNCF), for this many steps, before layers fall back to FP32; 0: never",
    )
    qat_learning_rate: float = Field(
        3e-5, gt=0, le=1, description="Learning rate of quantization-aware training (weights and quantizer ranges)"
    )
    qat_batch_size: int = Field(64, ge=1, le=4096, description="Train titles per step of quantization-aware training")
    length_buckets: list[Annotated[int, Field(ge=1)]] | None = Field(
        None,
        description="Token lengths a batch is padded up to, for runtimes that pay for each new input shape "
        "(OpenVINO), recorded in their model directories; null: multiples of 8 up to data.max_seq_length; "
        "[]: none, padded to the longest title",
    )

    @model_validator(mode="after")
    def _buckets_ascend(self):
        b = self.length_buckets
        if b and b != sorted(set(b)):
            raise ValueError(f"quantize.length_buckets: {b} must ascend, each length once")
        return self


class DistillParams(TrainParams):
    """The student's shape, its loss, and its training (the fields it shares with train.* mean
    the same there)."""

    SECTION: ClassVar[str] = "distill"

    layers: int = Field(
        1,
        ge=1,
        le=48,
        description="The student's encoder layers, taken from the teacher's evenly spaced (first and last)",
    )
    hidden: int | None = Field(
        None, ge=8, description="The student's hidden size; null: the teacher's (its layers and embeddings are copied)"
    )
    heads: int | None = Field(None, ge=1, description="The student's attention heads; null: the teacher's")
    intermediate: int | None = Field(None, ge=8, description="The student's feed-forward size; null: the teacher's")
    temperature: float = Field(2.0, gt=0, le=20, description="Softens both models' logits in the soft-label term")
    soft_weight: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Weight of the soft-label term (KL to the teacher at the temperature, times its square); the "
        "hard-label cross-entropy gets the rest",
    )
    epochs: float = Field(1.0, gt=0, description="Passes over the train split")
    learning_rate: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Peak learning rate; null: 5e-4 for the student of the model trained from scratch here, 5e-5 "
        "for that of model.pretrained or model.finetuned",
    )

    @model_validator(mode="after")
    def _heads_divide_hidden(self):
        if self.hidden is not None and self.hidden % (self.heads or 1):
            raise ValueError(f"distill.hidden ({self.hidden}) must be a multiple of distill.heads ({self.heads})")
        return self

    def resolved_learning_rate(self, pretrained):
        if self.learning_rate is not None:
            return self.learning_rate
        return 5e-5 if pretrained else 5e-4


class ClassicalParams(Section):
    ngram_min: int = Field(1, ge=1, le=6, description="Shortest character n-gram of the TF-IDF features")
    ngram_max: int = Field(3, ge=1, le=6, description="Longest character n-gram of the TF-IDF features")
    hash_bits: int = Field(
        20, ge=10, le=24, description="The n-grams are hashed into 2**hash_bits features (no vocabulary to store)"
    )
    model: Literal["linear_svm", "logistic_regression"] = Field(
        "linear_svm", description="The linear model on the features (scikit-learn LinearSVC or LogisticRegression)"
    )
    C: float = Field(1.0, gt=0, le=1000, description="Inverse regularisation strength: larger fits train more closely")

    @model_validator(mode="after")
    def _ngram_range(self):
        if self.ngram_min > self.ngram_max:
            raise ValueError(f"classical.ngram_min ({self.ngram_min}) above classical.ngram_max ({self.ngram_max})")
        return self


class QatCaseParams(Section):
    """A case made for post-training int8 to lose (metrics/qat_case.json): the student's OpenVINO
    int8 calibrated on too few titles, and the same model after quantization-aware training."""

    calibration_samples: int = Field(
        1, ge=1, le=100_000, description="Train titles that calibrate the case's post-training int8 (few: it loses)"
    )


class EvaluateParams(Section):
    batch_size: int = Field(256, ge=1, description="Titles per forward pass")
    threads: int = Field(2, ge=1, description="Intra-op threads of each model")
    max_f1_loss: float = Field(
        0.01,
        ge=0,
        le=1,
        description="What `serve auto` / `predict auto` let a model lose in test macro-F1 against the teacher's FP32, "
        "at 95% (its loses_at_most); recorded in metrics/evaluate.json",
    )


class BenchmarkParams(Section):
    threads: int = Field(2, ge=1, description="Intra-op threads of each model")
    seq_len: int = Field(32, ge=4, le=512, description="Tokens per sequence of the fixed-shape timings")
    batch_size: int = Field(64, ge=2, description="The large batch of the throughput timing")
    warmup: int = Field(
        5,
        ge=1,
        description="Batch-1 calls before the timed passes, at least (the first, timed alone, is the cold figure); "
        "each shape's warm-up, its cold call included, also lasts min_pass_seconds",
    )
    runs: int = Field(50, ge=3, description="Timed batch-1 calls at least, split evenly over the repeats")
    throughput_runs: int = Field(
        5, ge=1, description="Timed large-batch calls at least, split over the repeats (at least one each)"
    )
    min_pass_seconds: float = Field(
        0.1,
        ge=0,
        le=10,
        description="A timed pass of batch-1 or of large-batch calls goes on until it has lasted this long "
        "(pyperf's min_time): a fast model gets more calls, where one interrupt would move a pass of a few ms. "
        "Each shape's warm-up lasts this long too, and a real-title pass goes through the titles as many rounds "
        "as a warm pass needs to last it",
    )
    repeats: int = Field(
        6,
        ge=6,
        description="Timed passes of every figure per model, in all, split over its processes; the median and its "
        "95% interval come from all of them (6 is the fewest whose min-max covers the median at 95%)",
    )
    processes: int = Field(
        3,
        ge=1,
        description="Fresh processes per model, started in turn over the models (A B C A B C ...); each warms up, "
        "then runs its share of the repeats (process-to-process variation exceeds pass-to-pass)",
    )
    title_samples: int = Field(1000, ge=1, description="Test titles timed with dynamic padding vs padded to seq_len")
    title_latency_samples: int = Field(
        200,
        ge=1,
        description="The first of those titles, timed one per call (batch-1 latency on real titles, tokenizing included)",
    )
    reference_shape: bool = Field(
        True,
        description="Also time a reference shape (random weights): bert-base-chinese, or model.finetuned / "
        "model.pretrained's own config",
    )
    disturbed_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Share of the machine's CPU time taken by other processes (and steal) while a model is timed "
        "above which it is retimed once, then marked disturbed",
    )
    canary_slowdown: float | None = Field(
        0.5,
        gt=0,
        le=10,
        description="A timed pass whose canary (a fixed small kernel timed before and after it in the same process) "
        "runs this much slower than the process's fastest canary (0.5: 50%) is timed once more, the second kept and "
        "marked when its canary is slow too; null: no canary",
    )
    reference_student_layers: int = Field(
        3,
        ge=0,
        le=47,
        description="With reference_shape: also time a student of that shape keeping this many of its layers (3: "
        "RBT3's depth), every runtime's models of it; 0: none",
    )

    @model_validator(mode="after")
    def _a_pass_per_process(self):
        if self.processes > self.repeats:
            raise ValueError(
                f"benchmark.processes ({self.processes}) above benchmark.repeats ({self.repeats}): "
                "each process needs a timed pass of its own"
            )
        return self


class LoadTestParams(Section):
    concurrency: list[Annotated[int, Field(ge=1, le=256)]] = Field(
        [1, 8, 32], description="Concurrent clients, each posting back to back; one run per level"
    )
    texts_per_request: list[Annotated[int, Field(ge=1, le=256)]] = Field(
        [1, 64], description="Titles per request; one run per (concurrency, titles per request)"
    )
    seconds: float = Field(5.0, gt=0, le=600, description="Length of each run")
    layout_runs: int = Field(
        6,
        ge=2,
        le=50,
        description="Runs of each serving layout (workers x threads, and streams where the runtime has them), "
        "taking turns; their medians and intervals decide which serves most (6: the fewest for 95% intervals)",
    )
    threads: int = Field(2, ge=1, description="Threads of the served model (all of them, over its workers)")
    max_batch: int = Field(
        serving_limits.MAX_BATCH, ge=1, description="The service's largest pass (bert-int8 serve --max-batch)"
    )
    max_wait_ms: float = Field(
        serving_limits.MAX_WAIT_MS,
        ge=0,
        le=1000,
        description="How long a pass waits for more titles (bert-int8 serve --max-wait-ms)",
    )
    max_queue: int = Field(
        serving_limits.MAX_QUEUE, ge=1, description="Titles queued before 503 (bert-int8 serve --max-queue)"
    )
    disturbed_share: float = Field(
        0.05,
        gt=0,
        le=1,
        description="Share of the machine's CPU time taken by other processes (and steal) during a run above "
        "which it is rerun once, then marked disturbed",
    )


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
