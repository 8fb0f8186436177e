import urllib.request

import pytest

from bert_int8.core.errors import PipelineError
from bert_int8.data.fetch import SHA256, fetch


def test_copies_from_the_named_folder_and_says_when_files_differ(raw_dir, tmp_path, capsys):
    dest = tmp_path / "data" / "raw"
    fetch(dest, env_dir=raw_dir, shared=tmp_path / "none")
    assert all((dest / f).read_bytes() == (raw_dir / f).read_bytes() for f in SHA256)
    assert "differ from the published THUCNews files (used as given)" in capsys.readouterr().out
    assert not list(dest.glob(".fetch.*"))  # no temporary leftovers


def test_keeps_existing_files_then_falls_back_to_shared(raw_dir, tmp_path, capsys):
    dest = tmp_path / "dest"
    fetch(dest, env_dir=None, shared=raw_dir)  # empty dest: taken from the shared folder
    assert "copied" in capsys.readouterr().out
    (dest / "train.txt").write_text("edited\t0\n")
    fetch(dest, env_dir=None, shared=raw_dir)  # complete dest: left alone
    assert (dest / "train.txt").read_text() == "edited\t0\n"
    assert "already holds" in capsys.readouterr().out


def test_named_folder_missing_a_file(raw_dir, tmp_path):
    (raw_dir / "dev.txt").unlink()
    with pytest.raises(PipelineError, match=r"dev\.txt not found"):
        fetch(tmp_path / "dest", env_dir=raw_dir)


def test_offline_with_no_source_says_where_to_put_the_files(tmp_path, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    with pytest.raises(PipelineError) as err:
        fetch(tmp_path / "dest", env_dir=None, shared=tmp_path / "none")
    msg = str(err.value)
    assert "649453932/Chinese-Text-Classification-Pytorch" in msg and "THUCNEWS_DIR" in msg
    assert not list((tmp_path / "dest").iterdir())
