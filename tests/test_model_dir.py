"""A PyTorch model loaded with `threads` runs its own calls with that many threads and leaves the
process's torch.set_num_threads setting as it found it (the other runtimes' sessions carry
their own). And opening a directory says which backend's it is, or why it is none."""

import pytest
import torch
from fixtures import save_tiny_model_dirs

from bert_int8.backends.model_dir import ModelDir
from bert_int8.measure.timing import dummy_batch

PROCESS_THREADS = 3  # anything but the model's 1, so that a leak shows


@pytest.fixture
def process_threads():
    was = torch.get_num_threads()
    torch.set_num_threads(PROCESS_THREADS)
    yield
    torch.set_num_threads(was)


@pytest.mark.parametrize("kind", ["fp32", "int8", "bf16"])
def test_torch_threads_hold_for_the_models_calls_only(tmp_path, process_threads, kind):
    fp32_dir, int8_dir = save_tiny_model_dirs(tmp_path)
    found = ModelDir.open(int8_dir if kind == "int8" else fp32_dir)
    model = (found.as_bf16() if kind == "bf16" else found).load(threads=1)
    assert torch.get_num_threads() == PROCESS_THREADS  # loading changes nothing

    seen = []
    model.bert.encoder.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    batch = dummy_batch(model.config.vocab_size, 2, 6)
    model(**batch)
    assert seen == [1] and torch.get_num_threads() == PROCESS_THREADS

    with pytest.raises(IndexError):  # a call that fails (a token id past the vocabulary) restores it too
        model(input_ids=torch.full((1, 4), model.config.vocab_size))
    assert torch.get_num_threads() == PROCESS_THREADS


def test_without_threads_the_model_follows_the_process(tmp_path, process_threads):
    model = ModelDir.open(save_tiny_model_dirs(tmp_path)[0]).load()
    seen = []
    model.bert.encoder.register_forward_hook(lambda *_: seen.append(torch.get_num_threads()))
    model(**dummy_batch(model.config.vocab_size, 1, 4))
    assert seen == [PROCESS_THREADS]


def test_a_torch_directory_without_torch_fails_in_one_line(tmp_path, monkeypatch):
    import builtins

    from bert_int8.core.errors import PipelineError

    fp32_dir, _ = save_tiny_model_dirs(tmp_path)
    found = ModelDir.open(fp32_dir)  # opening needs no torch
    real_import = builtins.__import__

    def no_torch(name, *args, **kwargs):
        if name.split(".")[0] == "torch":
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    with pytest.raises(PipelineError, match=r"a PyTorch model needs torch and transformers \(pip install"):
        found.load()


def test_a_directory_with_two_runtimes_model_files_is_refused(tmp_path):
    from bert_int8.core.errors import PipelineError

    fp32_dir, _ = save_tiny_model_dirs(tmp_path)
    (fp32_dir / "model.onnx").write_bytes(b"")  # a second runtime's model file beside PyTorch's
    with pytest.raises(PipelineError, match=r"holds the model files of several backends \(torch, onnxruntime\)"):
        ModelDir.open(fp32_dir)


def test_an_older_pytorch_save_opens_as_pytorch_fp32(tmp_path):
    fp32_dir, _ = save_tiny_model_dirs(tmp_path)
    (fp32_dir / "model.safetensors").rename(fp32_dir / "pytorch_model.bin")
    found = ModelDir.open(fp32_dir)
    assert (found.runtime_name, found.precision, found.files) == ("torch", "fp32", [fp32_dir / "pytorch_model.bin"])
