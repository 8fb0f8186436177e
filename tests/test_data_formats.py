"""CSV, TSV, JSON Lines and Hugging Face datasets: read as strictly as THUCNews, labels derived
or given, missing splits cut from train."""

import json

import pytest
from fixtures import CLASSES, make_titles

from bert_int8.core.errors import PipelineError
from bert_int8.core.params import DataParams
from bert_int8.data.formats import in_label_order, read_dataset

ROWS = make_titles(12, 4)  # 120 titles, 12 per class


def _csv(path, rows, header="text,label", sep=","):
    path.write_text(header + "\n" + "".join(f'"{t}"{sep}{CLASSES[y]}\n' for t, y in rows), encoding="utf-8")


def test_csv_with_string_labels_and_no_dev_or_test(tmp_path):
    _csv(tmp_path / "train.csv", ROWS)
    classes, splits, _ = read_dataset(
        DataParams(format="csv", raw_dir=str(tmp_path), dev_fraction=0.2, test_fraction=0.25)
    )
    assert classes == sorted(CLASSES)
    assert [len(splits[s].texts) for s in ("train", "dev", "test")] == [72, 18, 30]
    assert len(set(splits["test"].labels)) == 10  # stratified: every class in the cut-off split
    train_pairs = {(t, classes[y]) for t, y in zip(splits["train"].texts, splits["train"].labels)}
    assert train_pairs <= {(t, CLASSES[y]) for t, y in ROWS}  # texts keep their labels
    again = read_dataset(DataParams(format="csv", raw_dir=str(tmp_path), dev_fraction=0.2, test_fraction=0.25))
    assert again[1] == splits  # seeded


def test_tsv_with_given_label_order_and_own_splits(tmp_path):
    for name in ("train", "dev", "test"):
        _csv(tmp_path / f"{name}.tsv", ROWS, header="title\tcategory", sep="\t")
    params = DataParams(
        format="tsv", raw_dir=str(tmp_path), text_column="title", label_column="category", labels=list(CLASSES)
    )
    classes, splits, _ = read_dataset(params)
    assert classes == CLASSES and splits["dev"].labels == [y for _, y in ROWS]


def test_jsonl_with_integer_labels_sorted_numerically(tmp_path):
    lines = [json.dumps({"text": t, "label": y * 5, "extra": 1}, ensure_ascii=False) for t, y in ROWS]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    classes, splits, _ = read_dataset(DataParams(format="jsonl", raw_dir=str(tmp_path)))
    assert classes == [str(5 * i) for i in range(10)]
    assert sum(len(s.texts) for s in splits.values()) == len(ROWS)


def test_hugging_face_dataset_saved_to_disk(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features(
        {"sentence": datasets.Value("string"), "topic": datasets.ClassLabel(names=list(CLASSES))}
    )
    data = {"sentence": [t for t, _ in ROWS], "topic": [y for _, y in ROWS]}
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(data, features=features),
            "validation": datasets.Dataset.from_dict(data, features=features),
        }
    )
    dd.save_to_disk(str(tmp_path / "ds"))
    params = DataParams(format="hf", raw_dir=str(tmp_path / "ds"), text_column="sentence", label_column="topic")
    classes, splits, _ = read_dataset(params)
    assert classes == sorted(CLASSES) and set(splits) == {"train", "dev", "test"}
    assert [classes[y] for y in splits["dev"].labels] == [CLASSES[y] for _, y in ROWS]


BAD = [
    ("csv", b"title,label\n", "train.csv:1: no column 'text' in the header"),
    ("csv", b'text,label\nok,finance\n"bad\xff",finance\n', "train.csv:3: not valid UTF-8"),
    ("csv", b'text,label\nok,finance\n"a\x00b",finance\n', "train.csv:3: text has a control character (U+0000)"),
    ("csv", b"text,label\nok,finance\n  ,finance\n", "train.csv:3: empty text"),
    ("csv", b"text,label\nok,finance\nok,finance,extra\n", "train.csv:3: expected 2 fields"),
    ("tsv", b"label\ttext\nfinance\tok\nfinance\n", "train.tsv:3: expected 2 fields"),
    ("tsv", b"text\tlabel\nok\tfinance\n\tfinance\n", "train.tsv:3: empty text"),
    ("tsv", b"text\tlabel\nok\tfinance\nok\t\n", "train.tsv:3: empty label"),
    ("jsonl", b'{"text": "ok", "label": "a"}\n{"text": "ok"\n', "train.jsonl:2: not valid JSON"),
    ("jsonl", b'{"text": "ok", "label": "a"}\n["ok", "a"]\n', "train.jsonl:2: expected a JSON object"),
    ("jsonl", b'{"text": "ok", "label": "a"}\n{"label": "a"}\n', "train.jsonl:2: no key 'text'"),
    ("jsonl", b'{"text": "ok", "label": "a"}\n{"text": 3, "label": "a"}\n', "train.jsonl:2: 'text' is not a string"),
    ("jsonl", b'{"text": "ok", "label": "a"}\n{"text": "x", "label": [1]}\n', "train.jsonl:2: label [1] is neither"),
]


@pytest.mark.parametrize("fmt, content, expected", BAD)
def test_bad_input_names_file_and_line(tmp_path, fmt, content, expected):
    (tmp_path / f"train.{fmt}").write_bytes(content)
    with pytest.raises(PipelineError) as err:
        read_dataset(DataParams(format=fmt, raw_dir=str(tmp_path)))
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_labels_outside_the_given_list_or_train(tmp_path):
    _csv(tmp_path / "train.csv", ROWS)
    (tmp_path / "dev.csv").write_text("text,label\nok,finance\nodd,weather\n", encoding="utf-8")
    with pytest.raises(PipelineError, match=r"dev\.csv:3: label 'weather' is not one of the train split's labels"):
        read_dataset(DataParams(format="csv", raw_dir=str(tmp_path)))
    with pytest.raises(PipelineError, match=r"train\.csv:\d+: label '\w+' is not one of data\.labels \(a, b\)"):
        read_dataset(DataParams(format="csv", raw_dir=str(tmp_path), labels=["a", "b"]))


def test_missing_train_file(tmp_path):
    with pytest.raises(PipelineError, match=r"train\.jsonl: file not found \(data\.format is 'jsonl'\)"):
        read_dataset(DataParams(format="jsonl", raw_dir=str(tmp_path)))


def test_a_finetuned_models_label_order_wins_or_the_difference_is_named():
    from bert_int8.data.splits import Split

    splits = {"train": Split(["x", "y"], [0, 1])}
    labels, out = in_label_order(["a", "b"], splits, ["b", "a"])
    assert labels == ["b", "a"] and out["train"].labels == [1, 0]
    with pytest.raises(PipelineError, match=r"only in the data: \['b'\]; only in the model: \['c'\]"):
        in_label_order(["a", "b"], splits, ["a", "c"])


def test_texts_at_the_limit_read_back_as_prepared_and_longer_ones_stop_prepare(tmp_path):
    """Whatever prepare accepts, load_prepared (read_split) reads back: a text of exactly the
    limit with a two-digit label id; one character more stops prepare, naming file and line."""
    from bert_int8.data.splits import MAX_TEXT_CHARS, format_split, read_split

    rows = [(f"text {i}", f"c{i % 12:02d}") for i in range(96)] + [("x" * MAX_TEXT_CHARS, "c11")]
    lines = [json.dumps({"text": t, "label": y}) for t, y in rows]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    params = DataParams(format="jsonl", raw_dir=str(tmp_path), dev_fraction=0.2, test_fraction=0.2)
    classes, splits, _ = read_dataset(params)
    assert classes[11] == "c11" and "x" * MAX_TEXT_CHARS in sum((s.texts for s in splits.values()), [])
    for name, split in splits.items():
        (tmp_path / f"{name}.tsv").write_text(format_split(split), encoding="utf-8")
        assert read_split(tmp_path / f"{name}.tsv", len(classes)) == split
    for fmt, sep in (("csv", ","), ("tsv", "\t")):
        (tmp_path / f"train.{fmt}").write_text(f"text{sep}label\nok{sep}a\n{'y' * 1001}{sep}b\n", encoding="utf-8")
        with pytest.raises(PipelineError) as err:
            read_dataset(DataParams(format=fmt, raw_dir=str(tmp_path)))
        assert str(err.value) == f"{tmp_path}/train.{fmt}:3: text is 1001 characters long, at most 1000 allowed"


def test_a_class_without_examples_in_a_split_stops_prepare(tmp_path):
    _csv(tmp_path / "train.csv", ROWS)
    _csv(tmp_path / "dev.csv", [(t, y) for t, y in ROWS if CLASSES[y] != "sports"])
    with pytest.raises(PipelineError) as err:
        read_dataset(DataParams(format="csv", raw_dir=str(tmp_path)))
    assert str(err.value) == (
        f"{tmp_path}/dev.csv: class 'sports' never appears in the dev split (1 of 10 classes missing); "
        "every split needs every class"
    )
    (tmp_path / "dev.csv").unlink()  # a given label that train never has: dev and test are cut from train
    with pytest.raises(PipelineError, match=r"train\.csv: class 'weather' never appears in the train split \(1 of 11"):
        read_dataset(DataParams(format="csv", raw_dir=str(tmp_path), labels=CLASSES + ["weather"]))
    with pytest.raises(PipelineError, match=r"^data\.labels: 'game' appears more than once$"):
        read_dataset(DataParams(format="csv", raw_dir=str(tmp_path), labels=CLASSES + ["game"]))


def test_a_csv_record_over_several_lines_is_named_by_its_first_line(tmp_path):
    cases = [
        (b'text,label\nok,a\n"two\nlines\x01",b\n', ":3: text has a control character (U+0001)"),
        (b'text,label\n"two\nlines",a\n\nok,a,b\n', ":5: expected 2 fields, found 3"),  # after a blank line
        (b'text,label\nok,a\n"never closed,b\nok,a\n', ":3: not valid CSV: unexpected end of data"),
    ]
    for content, expected in cases:
        (tmp_path / "train.csv").write_bytes(content)
        with pytest.raises(PipelineError) as err:
            read_dataset(DataParams(format="csv", raw_dir=str(tmp_path)))
        assert str(err.value).startswith(f"{tmp_path}/train.csv{expected}")


def test_tsv_quote_characters_are_part_of_the_text(tmp_path):
    texts = ['"Quoted" at the start', 'a lone " quote', "the line after it", 'ends with "']
    rows = "".join(f"{t}\t{'ab'[i % 2]}\n" for i, t in enumerate(texts * 3))
    for name in ("train", "dev", "test"):
        (tmp_path / f"{name}.tsv").write_text("text\tlabel\n" + rows, encoding="utf-8")
    _, splits, _ = read_dataset(DataParams(format="tsv", raw_dir=str(tmp_path)))
    assert splits["dev"].texts == texts * 3 and splits["dev"].labels == [0, 1] * 6


def test_a_cut_split_keeps_all_copies_of_a_text_on_one_side(tmp_path):
    rows = [row for row in ROWS[:60] for _ in range(3)] + ROWS[60:]  # 60 texts three times, 60 once
    _csv(tmp_path / "train.csv", rows)
    params = DataParams(format="csv", raw_dir=str(tmp_path), dev_fraction=0.2, test_fraction=0.2, seed=3)
    classes, splits, cut = read_dataset(params)
    train, dev, test = (set(splits[s].texts) for s in ("train", "dev", "test"))
    assert not (train & dev or train & test or dev & test)
    assert sum(len(s.texts) for s in splits.values()) == len(rows)
    assert all(set(splits[s].labels) == set(range(10)) for s in splits)  # still stratified
    assert cut == {"splits": ["test", "dev"], "duplicate_texts": 60, "extra_copies": 120}
    assert read_dataset(params) == (classes, splits, cut)  # seeded
    _csv(tmp_path / "dev.csv", ROWS)
    _csv(tmp_path / "test.csv", ROWS)
    assert read_dataset(params)[2] == {}  # nothing cut, nothing to report


def test_hugging_face_unlabelled_rows_and_long_texts_name_split_and_row(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"text": datasets.Value("string"), "label": datasets.ClassLabel(names=["a", "b"])})
    train = datasets.Dataset.from_dict({"text": ["x", "y", "z", "w"], "label": [0, 1, 0, 1]}, features=features)
    for bad, expected in (
        ({"text": ["x", "y"], "label": [0, -1]}, "[test]:2: label -1 means no label (ClassLabel)"),
        ({"text": ["x", "y" * 1001], "label": [0, 1]}, "[test]:2: text is 1001 characters long, at most 1000"),
    ):
        test = datasets.Dataset.from_dict(bad, features=features)
        datasets.DatasetDict({"train": train, "validation": train, "test": test}).save_to_disk(str(tmp_path / "ds"))
        with pytest.raises(PipelineError) as err:
            read_dataset(DataParams(format="hf", raw_dir=str(tmp_path / "ds")))
        assert str(err.value).startswith(f"{tmp_path / 'ds'}{expected}") and "\n" not in str(err.value)


def test_prepare_data_stage_stops_with_one_line_or_reports_the_cut(workdir):
    from conftest import ok, run_script, set_params

    own = workdir / "data" / "own"
    own.mkdir()
    rows = [row for row in ROWS[:40] for _ in range(2)] + ROWS[40:]
    _csv(own / "train.csv", rows)
    set_params(workdir, data={"format": "csv", "raw_dir": "data/own", "dev_fraction": 0.2, "test_fraction": 0.2})
    ok(run_script("prepare_data", workdir))
    report = json.loads((workdir / "metrics/data.json").read_text())
    assert report["cut_from_train"] == {"splits": ["test", "dev"], "duplicate_texts": 40, "extra_copies": 40}

    # a rare class (2 of 110 rows) that a small train subset leaves out
    _csv(own / "train.csv", [row for row in ROWS if row[1] != 0] + [row for row in ROWS if row[1] == 0][:2])
    _csv(own / "dev.csv", ROWS)
    _csv(own / "test.csv", ROWS)
    set_params(workdir, data={"max_train_samples": 18})
    result = run_script("prepare_data", workdir)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: data.max_train_samples: class 'finance' never appears in the train split (1 of 10 classes missing); "
        "every split needs every class"
    )

    # a text over the limit: stopped in prepare_data, not later in train (load_prepared)
    (own / "dev.csv").unlink()
    (own / "test.csv").unlink()
    (own / "train.csv").write_text("text,label\n" + "".join(f"{'z' * 1001},a\n" for _ in range(2)), encoding="utf-8")
    result = run_script("prepare_data", workdir)
    assert result.returncode == 2 and result.stderr.strip() == (
        "error: data/own/train.csv:2: text is 1001 characters long, at most 1000 allowed"
    )
