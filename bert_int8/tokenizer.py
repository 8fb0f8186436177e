"""The tokenizer: a pretrained model's own, or a WordPiece vocabulary trained on the train split."""
from pathlib import Path

from .errors import PipelineError

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def train_wordpiece(texts, vocab_size, min_frequency, multi_char, max_length):
    """A BERT-style WordPiece tokenizer trained on `texts`, as a transformers tokenizer.

    multi_char=False splits every CJK character into its own word first (what
    bert-base-chinese does); True lets WordPiece learn pieces spanning several characters,
    which shortens titles by about a third and gives the model whole words.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=not multi_char, strip_accents=False, lowercase=True
    )
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False
    )
    tok.train_from_iterator(texts, trainer)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_length,
        model_input_names=["input_ids", "token_type_ids", "attention_mask"],
    )


def load_pretrained_tokenizer(name_or_path, max_length):
    """A pretrained model's own tokenizer, from a hub id or a local directory (transformers' rules)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        raise PipelineError(f"model.pretrained: cannot load a tokenizer from {name_or_path!r}: {_first_line(err)}") from None
    tok.model_max_length = max_length
    return tok


def load_tokenizer(path):
    """The tokenizer saved next to a model (or by prepare_data)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer_config.json").is_file():
        raise PipelineError(f"{path}: no tokenizer here (tokenizer_config.json missing)")
    return AutoTokenizer.from_pretrained(path)


def _first_line(err):
    return str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
