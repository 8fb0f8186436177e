"""The train, distill and classical sections."""

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from .base import Section, per_process_batch


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
