"""The quantize and qat_case sections."""

from typing import Annotated, Literal

from pydantic import Field, model_validator

from .base import Section


class QuantizeParams(Section):
    scheme: Literal["per_tensor", "per_channel"] = Field(
        "per_tensor", description="Weight scales: one per matrix, or one per output channel"
    )
    embeddings: Literal["fp32", "int8"] = Field("fp32", description="Word embeddings kept FP32, or int8 (PyTorch)")
    keep_fp32: list[str] = Field(
        [], description='Module-name patterns (fnmatch) whose nn.Linear stay FP32, e.g. "classifier"'
    )
    # Checked against the registry by the stage that builds them (bert_int8.backends.chosen):
    # the params schema names no runtime, so that training does not depend on the runtimes' modules.
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


class QatCaseParams(Section):
    """A case made for post-training int8 to lose (metrics/qat_case.json): the student's OpenVINO
    int8 calibrated on too few titles, and the same model after quantization-aware training."""

    calibration_samples: int = Field(
        1, ge=1, le=100_000, description="Train titles that calibrate the case's post-training int8 (few: it loses)"
    )
