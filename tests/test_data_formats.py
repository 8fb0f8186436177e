"""CSV, TSV, JSON Lines and Hugging Face datasets: read as strictly as THUCNews, labels derived
or given, missing splits cut from train."""

import json

import pytest
from fixtures import CLASSES, make_titles

from bert_int8.data_formats import in_label_order, read_dataset
from bert_int8.errors import PipelineError
from bert_int8.params import DataParams

ROWS = make_titles(12, 4)  # 120 titles, 12 per class


def _csv(path, rows, header="text,label", sep=","):
    path.write_text(header + "\n" + "".join(f'"{t}"{sep}{CLASSES[y]}\n' for t, y in rows), encoding="utf-8")


def test_csv_with_string_labels_and_no_dev_or_test(tmp_path):
    _csv(tmp_path / "train.csv", ROWS)
    classes, splits = read_dataset(
        DataParams(format="csv", raw_dir=str(tmp_path), dev_fraction=0.2, test_fraction=0.25)
    )
    assert classes == sorted(CLASSES)
    assert [len(splits[s].texts) for s in ("train", "dev", "test")] == [72, 18, 30]
    assert len(set(splits["test"].labels)) == 10  # stratified: every class in the cut-off split
    train_pairs = {(t, classes[y]) for t, y in zip(splits["train"].texts, splits["train"].labels)}
    assert train_pairs <= {(t, CLASSES[y]) for t, y in ROWS}  # texts keep their labels
    again = read_dataset(DataParams(format="csv", raw_dir=str(tmp_path), dev_fraction=0.2, test_fraction=0.25))[1]
    assert again == splits  # seeded


def test_tsv_with_given_label_order_and_own_splits(tmp_path):
    for name in ("train", "dev", "test"):
        _csv(tmp_path / f"{name}.tsv", ROWS, header="title\tcategory", sep="\t")
    params = DataParams(
        format="tsv", raw_dir=str(tmp_path), text_column="title", label_column="category", labels=list(CLASSES)
    )
    classes, splits = read_dataset(params)
    assert classes == CLASSES and splits["dev"].labels == [y for _, y in ROWS]


def test_jsonl_with_integer_labels_sorted_numerically(tmp_path):
    lines = [json.dumps({"text": t, "label": y * 5, "extra": 1}, ensure_ascii=False) for t, y in ROWS]
    (tmp_path / "train.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    classes, splits = read_dataset(DataParams(format="jsonl", raw_dir=str(tmp_path)))
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
    classes, splits = read_dataset(params)
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
    from bert_int8.data import Split

    splits = {"train": Split(["x", "y"], [0, 1])}
    labels, out = in_label_order(["a", "b"], splits, ["b", "a"])
    assert labels == ["b", "a"] and out["train"].labels == [1, 0]
    with pytest.raises(PipelineError, match=r"only in the data: \['b'\]; only in the model: \['c'\]"):
        in_label_order(["a", "b"], splits, ["a", "c"])
