"""How many bytes a model takes: in memory (its state_dict) and on disk (its files).

Weight bytes are counted from the state_dict, where the packed int8 weights of quantized
Linear layers live; `parameters()` does not see them (that is how the reference reported
63.55 MB for an int8 BERT whose weights take about 145 MiB).
Kept apart from the timing code, so that editing how models are timed reruns no stage that
only counts bytes.
"""

from pathlib import Path

import torch


def _tensors(value):
    if torch.is_tensor(value):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _tensors(v)


def tensor_bytes(t):
    """Bytes a tensor's values take, quantization parameters included."""
    n = t.numel() * t.element_size()
    if t.is_quantized:
        if t.qscheme() in (
            torch.per_channel_affine,
            torch.per_channel_symmetric,
            torch.per_channel_affine_float_qparams,
        ):
            scales, zeros = t.q_per_channel_scales(), t.q_per_channel_zero_points()
            n += scales.numel() * scales.element_size() + zeros.numel() * zeros.element_size()
        else:
            n += 8 + 8  # one double scale, one int64 zero point
    return n


def weight_bytes(model):
    """Bytes of all weights and buffers in memory, int8 packed weights included."""
    seen, total = set(), 0
    for value in model.state_dict().values():
        for t in _tensors(value):
            key = None if t.is_quantized else (t.untyped_storage().data_ptr(), t.storage_offset(), t.numel())
            if key is not None and key in seen:
                continue  # tied weights count once
            seen.add(key)
            total += tensor_bytes(t)
    return total


def file_bytes(files):
    """Bytes on disk of a file, a directory (all files under it) or a list of files."""
    if isinstance(files, (list, tuple)):
        return sum(file_bytes(f) for f in files)
    path = Path(files)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
