"""The data, tokenizer and model sections."""

from typing import Literal

from pydantic import Field, model_validator

from .base import Section


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
