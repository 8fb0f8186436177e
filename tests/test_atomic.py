"""Writes land whole or not at all: a failure anywhere in a block leaves every old output."""

import pytest

from bert_int8.core.atomic import output_dir, output_dirs, output_tree, write_json, write_text


def _tree(path):
    return sorted((p.relative_to(path).as_posix(), p.read_text()) for p in path.rglob("*") if p.is_file())


def test_output_dir_keeps_the_old_directory_when_a_later_write_fails(tmp_path):
    target = tmp_path / "model"
    with output_dir(target) as out:
        (out / "weights").write_text("old")
    with pytest.raises(RuntimeError), output_dir(target) as out:
        (out / "weights").write_text("new, half written")
        raise RuntimeError("killed while writing")
    assert _tree(target) == [("weights", "old")]
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary directory left


def test_output_dirs_land_together_or_not_at_all(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    with output_dirs([a, b]) as (ta, tb):
        (ta / "f").write_text("a1")
        (tb / "f").write_text("b1")
    with pytest.raises(ValueError), output_dirs([a, b]) as (ta, tb):
        (ta / "f").write_text("a2")  # written first ...
        raise ValueError("... and then the second directory fails")
    assert _tree(a) == [("f", "a1")] and _tree(b) == [("f", "b1")]
    with output_dirs([a, b]) as (ta, tb):
        (ta / "f").write_text("a3")
        (tb / "g").write_text("b3")
    assert _tree(a) == [("f", "a3")] and _tree(b) == [("g", "b3")]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]


def test_write_json_is_sorted_and_replaces_whole(tmp_path):
    path = tmp_path / "m.json"
    write_json(path, {"b": 1, "a": "漢"})
    assert path.read_text(encoding="utf-8") == '{\n  "a": "漢",\n  "b": 1\n}\n'
    write_text(path, "x")
    assert path.read_text() == "x" and [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_output_tree_replaces_each_named_folder_together_or_not_at_all(tmp_path):
    root = tmp_path / "models"
    (root / "a").mkdir(parents=True)
    (root / "a" / "old.txt").write_text("old")
    (root / "keep").mkdir()
    with pytest.raises(RuntimeError):
        with output_tree(root, ["a", "c"]) as staging:
            (staging / "a").mkdir()
            (staging / "a" / "new.txt").write_text("new")
            raise RuntimeError("a later write fails")
    assert sorted(p.name for p in root.iterdir()) == ["a", "keep"] and (root / "a" / "old.txt").is_file()

    with output_tree(root, ["a", "c", "d"]) as staging:
        (staging / "a").mkdir()
        (staging / "a" / "new.txt").write_text("new")
        (staging / "c").mkdir()
        (staging / "c" / "x.txt").write_text("x")
    assert sorted(p.name for p in (root / "a").iterdir()) == ["new.txt"]  # replaced whole
    assert (root / "c" / "x.txt").is_file() and (root / "d").is_dir() and not list((root / "d").iterdir())
    assert sorted(p.name for p in root.iterdir()) == ["a", "c", "d", "keep"]  # no staging left
