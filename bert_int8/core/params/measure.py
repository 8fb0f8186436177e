"""The evaluate, benchmark and load_test sections."""

from typing import Annotated

from pydantic import Field, model_validator

from bert_int8.core import serving_limits

from .base import Section


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
