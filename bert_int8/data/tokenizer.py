"""The tokenizer: a pretrained model's own, or a WordPiece vocabulary trained on the train split."""

import heapq
from collections import Counter, defaultdict
from pathlib import Path

from bert_int8.core.errors import PipelineError, first_line
from bert_int8.core.progress import progress

SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def learn_wordpiece_vocab(word_counts, vocab_size, min_frequency, special_tokens=SPECIAL_TOKENS, show_progress=False):
    """A WordPiece vocabulary learned by BPE merges over `word_counts`, deterministically.

    The `tokenizers` trainers break ties between equally frequent merges by hash-map order,
    so the same data gives a different vocabulary on every run; here ties go to the smaller
    merged string, and the same data always gives the same vocabulary (issue 5: identical
    reruns). Continuation pieces carry the "##" prefix, as in BERT. `show_progress` reports
    the pieces learned so far (about a minute on the full THUCNews train split).
    """
    words = sorted(word_counts)
    freqs = [word_counts[w] for w in words]
    seqs = [[w[0]] + ["##" + c for c in w[1:]] for w in words]
    alphabet = Counter()
    for seq, f in zip(seqs, freqs):
        for sym in seq:
            alphabet[sym] += f
    vocab = (list(special_tokens) + sorted(alphabet, key=lambda sym: (-alphabet[sym], sym)))[:vocab_size]
    known = set(vocab)

    pair_counts, where = defaultdict(int), defaultdict(set)
    for i, (seq, f) in enumerate(zip(seqs, freqs)):
        for pair in zip(seq, seq[1:]):
            pair_counts[pair] += f
            where[pair].add(i)
    # Max-heap on count, then the merged string; stale entries are skipped when popped.
    heap = [(-c, a + b[2:], (a, b)) for (a, b), c in pair_counts.items()]
    heapq.heapify(heap)
    bar = progress(max(0, vocab_size - len(vocab)), "learning the vocabulary", "pieces") if show_progress else None
    while len(vocab) < vocab_size and heap:
        neg_count, new, pair = heapq.heappop(heap)
        if pair_counts.get(pair, 0) != -neg_count:
            continue
        if -neg_count < min_frequency:
            break
        if new not in known:
            vocab.append(new)
            known.add(new)
            if bar:
                bar.update()
        delta = _merge(seqs, freqs, where, pair, new)
        pair_counts.pop(pair, None)
        for p, d in delta.items():
            if d == 0 or p == pair:
                continue
            count = pair_counts[p] + d
            if count > 0:
                pair_counts[p] = count
                heapq.heappush(heap, (-count, p[0] + p[1][2:], p))
            else:
                pair_counts.pop(p, None)
    if bar:
        bar.close()
    return vocab


def _merge(seqs, freqs, where, pair, new):
    """Merge `pair` into the piece `new` in every word that holds it (seqs and where change in
    place); returns how each pair's count changed."""
    a, b = pair
    delta = defaultdict(int)
    for i in where.pop(pair):
        seq = seqs[i]
        merged, j, hit = [], 0, False
        while j < len(seq):
            if seq[j] == a and j + 1 < len(seq) and seq[j + 1] == b:
                merged.append(new)
                j, hit = j + 2, True
            else:
                merged.append(seq[j])
                j += 1
        if not hit:
            continue  # an earlier merge already took this word's pair
        for p in zip(seq, seq[1:]):
            delta[p] -= freqs[i]
        for p in zip(merged, merged[1:]):
            delta[p] += freqs[i]
            where[p].add(i)
        seqs[i] = merged
    return delta


def train_wordpiece(texts, vocab_size, min_frequency, multi_char, max_length, show_progress=False):
    """A BERT-style WordPiece tokenizer trained on `texts`, as a transformers tokenizer.

    multi_char=False splits every CJK character into its own word first (what
    bert-base-chinese does); True lets WordPiece learn pieces spanning several characters,
    which shortens titles by about a fifth and gives the model whole words.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=not multi_char, strip_accents=False, lowercase=True
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    word_counts = Counter(
        word for text in texts for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text))
    )
    vocab = learn_wordpiece_vocab(word_counts, vocab_size, min_frequency, show_progress=show_progress)
    tok = Tokenizer(models.WordPiece({piece: i for i, piece in enumerate(vocab)}, unk_token="[UNK]"))
    tok.normalizer = normalizer
    tok.pre_tokenizer = pre_tokenizer
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


def load_pretrained_tokenizer(name_or_path, max_length, key="model.pretrained"):
    """A pretrained model's own tokenizer, from a hub id or a local directory (transformers' rules)."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(name_or_path)
    except (OSError, ValueError) as err:
        raise PipelineError(f"{key}: cannot load a tokenizer from {name_or_path!r}: {first_line(err)}") from None
    tok.model_max_length = max_length
    return tok


def load_tokenizer(path):
    """The tokenizer saved next to a model (or by prepare_data)."""
    from transformers import AutoTokenizer

    path = Path(path)
    if not (path / "tokenizer_config.json").is_file():
        raise PipelineError(f"{path}: no tokenizer here (tokenizer_config.json missing)")
    return AutoTokenizer.from_pretrained(path)
