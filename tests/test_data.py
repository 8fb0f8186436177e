import pytest
from fixtures import CLASSES

from bert_int8.core.errors import PipelineError
from bert_int8.data.splits import MAX_TEXT_CHARS, Split, data_report, read_raw, stratified_subset


def test_reads_fixture_splits(raw_dir):
    classes, splits = read_raw(raw_dir)
    assert classes == CLASSES
    assert len(splits["train"].labels) == 300 and len(splits["test"].labels) == 100
    assert set(splits["dev"].labels) == set(range(10))
    assert all("\t" not in t for t in splits["train"].texts)


def _write(raw_dir, name, content: bytes):
    (raw_dir / name).write_bytes(content)
    return raw_dir / name


def _good_lines(raw_dir, name="train.txt"):
    return (raw_dir / name).read_bytes()


BAD_LINES = [
    (b"no tab here\n", "exactly one tab, found 0"),
    (b"two\ttabs\t3\n", "exactly one tab, found 2"),
    (b"title\tx3\n", "label 'x3' is not a non-negative integer"),
    (b"title\t-1\n", "label '-1' is not a non-negative integer"),
    (b"title\t10\n", "label 10 out of range: class.txt has 10 classes"),
    (b" \t3\n", "empty title"),
    (b"ti\x00tle\t3\n", "title has a control character (U+0000) at character 3"),
    (b"title\x1b[31m\t3\n", "title has a control character (U+001B) at character 6"),
    (b"\xe4\xb8\t3\n", "not valid UTF-8"),
    (("x" * (MAX_TEXT_CHARS + 1)).encode() + b"\t3\n", "characters long"),
]


@pytest.mark.parametrize("bad, expected", BAD_LINES)
def test_bad_line_names_file_and_line(raw_dir, bad, expected):
    good = _good_lines(raw_dir).splitlines(keepends=True)
    path = _write(raw_dir, "train.txt", b"".join(good[:4]) + bad + b"".join(good[4:]))
    with pytest.raises(PipelineError) as err:
        read_raw(raw_dir)
    msg = str(err.value)
    assert msg.startswith(f"{path}:5: "), msg
    assert expected in msg
    assert "\n" not in msg


def test_missing_file(raw_dir):
    (raw_dir / "dev.txt").unlink()
    with pytest.raises(PipelineError, match=r"dev\.txt: file not found"):
        read_raw(raw_dir)


def test_missing_directory(tmp_path):
    with pytest.raises(PipelineError, match="data directory not found; set data.raw_dir"):
        read_raw(tmp_path / "nope")


def test_empty_file(raw_dir):
    _write(raw_dir, "test.txt", b"")
    with pytest.raises(PipelineError, match=r"test\.txt: file is empty"):
        read_raw(raw_dir)


def test_bom_and_crlf_are_normalised(raw_dir):
    good = _good_lines(raw_dir)
    _write(raw_dir, "train.txt", b"\xef\xbb\xbf" + good.replace(b"\n", b"\r\n"))
    _, splits = read_raw(raw_dir)
    _, clean = read_raw(_write_back(raw_dir, good))
    assert splits["train"] == clean["train"]
    assert not splits["train"].texts[0].startswith("\ufeff")


def _write_back(raw_dir, good):
    _write(raw_dir, "train.txt", good)
    return raw_dir


def test_class_file_with_fewer_classes_than_labels(raw_dir):
    _write(raw_dir, "class.txt", "\n".join(CLASSES[:8]).encode())
    with pytest.raises(PipelineError, match=r"train\.txt:\d+: label [89] out of range: class\.txt has 8 classes"):
        read_raw(raw_dir)


def test_class_file_with_more_classes_than_used(raw_dir):
    _write(raw_dir, "class.txt", "\n".join(CLASSES + ["weather"]).encode())
    with pytest.raises(PipelineError, match=r"train\.txt: class 10 never appears"):
        read_raw(raw_dir)


def test_split_missing_a_class(raw_dir):
    lines = _good_lines(raw_dir, "dev.txt").splitlines(keepends=True)
    _write(raw_dir, "dev.txt", b"".join(line for line in lines if not line.endswith(b"\t7\n")))
    with pytest.raises(PipelineError, match=r"dev\.txt: class 7 never appears"):
        read_raw(raw_dir)


def test_duplicate_class_name(raw_dir):
    _write(raw_dir, "class.txt", "\n".join(CLASSES[:9] + ["finance"]).encode())
    with pytest.raises(PipelineError, match="appears more than once"):
        read_raw(raw_dir)


def test_stratified_subset_is_seeded_and_keeps_proportions(raw_dir):
    _, splits = read_raw(raw_dir)
    a = stratified_subset(splits["train"], 100, seed=3)
    b = stratified_subset(splits["train"], 100, seed=3)
    c = stratified_subset(splits["train"], 100, seed=4)
    assert a == b and a != c
    assert [a.labels.count(k) for k in range(10)] == [10] * 10
    assert stratified_subset(splits["train"], None, 0) is splits["train"]
    with pytest.raises(PipelineError, match="fewer than the 10 classes"):
        stratified_subset(splits["train"], 5, 0)
    with pytest.raises(
        PipelineError, match="^data.max_train_samples: cannot take a stratified subset of 3: .* 1 member"
    ):
        stratified_subset(Split(list("abcde"), [0, 0, 0, 0, 1]), 3, 0)


def test_data_report_counts_duplicates_and_overlap():
    splits = {
        "train": Split(["a", "a", "a", "b", "c"], [0, 0, 1, 1, 0]),
        "dev": Split(["b", "x"], [1, 0]),
        "test": Split(["a", "c", "y"], [0, 0, 1]),
    }
    r = data_report(["p", "q"], splits)
    assert r["train_duplicates"] == {
        "extra_title_copies": 2,
        "extra_identical_lines": 1,
        "titles_with_several_labels": 1,
    }
    assert r["titles_shared_train_dev"] == 1 and r["titles_shared_train_test"] == 2
    assert r["splits"]["train"]["per_class"] == {"p": 3, "q": 2}


def test_data_report_records_a_cut_only_when_there_was_one():
    splits = {name: Split(["a", "b"], [0, 1]) for name in ("train", "dev", "test")}
    cut = {"splits": ["dev"], "duplicate_texts": 1, "extra_copies": 2}
    assert "cut_from_train" not in data_report(["p", "q"], splits)
    assert data_report(["p", "q"], splits, cut)["cut_from_train"] == cut
