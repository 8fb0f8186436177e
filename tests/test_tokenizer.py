import pytest
from fixtures import make_titles

from bert_int8.core.errors import PipelineError
from bert_int8.data.tokenizer import learn_wordpiece_vocab, load_pretrained_tokenizer, load_tokenizer, train_wordpiece

TEXTS = [t for t, _ in make_titles(30, 0)]


def test_wordpiece_round_trip(tmp_path):
    tok = train_wordpiece(TEXTS, vocab_size=300, min_frequency=1, multi_char=True, max_length=12)
    tok.save_pretrained(tmp_path)
    loaded = load_tokenizer(tmp_path)
    enc = loaded(TEXTS[:3], truncation=True)
    assert enc["input_ids"] == tok(TEXTS[:3], truncation=True)["input_ids"]
    ids = enc["input_ids"][0]
    assert ids[0] == loaded.cls_token_id and ids[-1] == loaded.sep_token_id
    assert all(len(x) <= 12 for x in loaded(TEXTS, truncation=True)["input_ids"])
    assert loaded.pad_token_id == 0


def test_multi_char_pieces_shorten_titles():
    lengths = {}
    for multi in (True, False):
        tok = train_wordpiece(TEXTS, vocab_size=400, min_frequency=1, multi_char=multi, max_length=64)
        lengths[multi] = sum(len(x) for x in tok(TEXTS)["input_ids"])
    char_level = sum(len(t) + 2 for t in TEXTS)
    assert lengths[False] == char_level  # one token per character, plus [CLS] and [SEP]
    assert lengths[True] < 0.8 * lengths[False]


def test_pretrained_tokenizer_from_local_directory(tmp_path):
    train_wordpiece(TEXTS, 300, 1, False, 64).save_pretrained(tmp_path / "tok")
    tok = load_pretrained_tokenizer(str(tmp_path / "tok"), max_length=10)
    assert tok.model_max_length == 10


def test_not_a_tokenizer_directory(tmp_path):
    with pytest.raises(PipelineError, match="tokenizer_config.json missing"):
        load_tokenizer(tmp_path)
    with pytest.raises(PipelineError, match="model.pretrained: cannot load a tokenizer"):
        load_pretrained_tokenizer(str(tmp_path), 10)


def test_vocabulary_is_deterministic(tmp_path):
    a = train_wordpiece(TEXTS, vocab_size=300, min_frequency=1, multi_char=True, max_length=16)
    b = train_wordpiece(list(reversed(TEXTS)), vocab_size=300, min_frequency=1, multi_char=True, max_length=16)
    assert a.get_vocab() == b.get_vocab()
    a.save_pretrained(tmp_path / "a")
    b.save_pretrained(tmp_path / "b")
    assert (tmp_path / "a/tokenizer.json").read_bytes() == (tmp_path / "b/tokenizer.json").read_bytes()


def test_learned_merges_follow_frequency():
    vocab = learn_wordpiece_vocab(
        {"ab": 5, "abc": 3, "bc": 1}, vocab_size=100, min_frequency=2, special_tokens=["[PAD]"]
    )
    # alphabet first (by count, then string), then merges: "ab" (8), then "abc" (3); "bc" (1) is below min_frequency
    assert vocab == ["[PAD]", "##b", "a", "##c", "b", "ab", "abc"]
    assert learn_wordpiece_vocab({"ab": 5, "abc": 3}, vocab_size=4, min_frequency=1, special_tokens=["[PAD]"]) == [
        "[PAD]",
        "##b",
        "a",
        "##c",
    ]
