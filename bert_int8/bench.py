"""Size and speed of a model, measured the same way for FP32 and int8.

Weight bytes are counted from the state_dict, where the packed int8 weights of quantized
Linear layers live; `parameters()` does not see them (that is how the reference reported
63.55 MB for an int8 BERT whose weights take about 145 MiB).
"""
import time
from pathlib import Path

import numpy as np
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
        if t.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric, torch.per_channel_affine_float_qparams):
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


def file_bytes(path):
    path = Path(path)
    return path.stat().st_size if path.is_file() else sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def dummy_batch(vocab_size, batch_size, seq_len, seed=0):
    """Random token ids with a full attention mask (speed does not depend on the values)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(5, vocab_size, (batch_size, seq_len), generator=g),
        "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
        "token_type_ids": torch.zeros(batch_size, seq_len, dtype=torch.long),
    }


@torch.inference_mode()
def interleaved_timings(models, batch, runs, warmup, rounds=5):
    """Seconds per forward pass for each model. The models take turns in blocks (`rounds` of
    them), so that drift in the machine's load hits all alike; each block starts with an
    untimed call, because PyTorch's and ONNX Runtime's thread pools keep spinning for a while
    after their last call, and a model timed call-by-call against the other runtime paid for it
    (measured here: ONNX Runtime int8 26.5 ms alternating, 18.9 ms in blocks)."""
    for model in models.values():
        for _ in range(warmup):
            model(**batch)
    times = {name: [] for name in models}
    per_block = max(1, -(-runs // rounds))
    for _ in range(rounds):
        for name, model in models.items():
            model(**batch)
            for _ in range(per_block):
                start = time.perf_counter()
                model(**batch)
                times[name].append(time.perf_counter() - start)
    return times


def latency_summary(seconds):
    ms = np.asarray(seconds) * 1000
    return {"latency_ms_p50": round(float(np.percentile(ms, 50)), 3), "latency_ms_p95": round(float(np.percentile(ms, 95)), 3)}


def _ratios(a, b):
    out = {
        "file_bytes": round(a["file_bytes"] / b["file_bytes"], 4),
        "latency_p50": round(a["latency_ms_p50"] / b["latency_ms_p50"], 4),
        "throughput": round(a["throughput_seq_per_s"] / b["throughput_seq_per_s"], 4),
    }
    if "weight_bytes" in a and "weight_bytes" in b:
        out["weight_bytes"] = round(a["weight_bytes"] / b["weight_bytes"], 4)
    return out


def compare_models(models, files, vocab_size, params, fp32_names=("fp32", "onnx_fp32")):
    """Size, batch-1 latency and large-batch throughput of each model, all from one run, and
    each model's ratios to PyTorch FP32 ("fp32") and to the fastest FP32 model at batch 1:
    a speedup against a slow FP32 baseline alone would flatter."""
    one = dummy_batch(vocab_size, 1, params.seq_len)
    big = dummy_batch(vocab_size, params.batch_size, params.seq_len)
    lat = interleaved_timings(models, one, params.runs, params.warmup)
    thr = interleaved_timings(models, big, params.throughput_runs, 0, rounds=1)
    out = {}
    for name, model in models.items():
        out[name] = {
            "file_bytes": file_bytes(files[name]),
            **latency_summary(lat[name]),
            "throughput_seq_per_s": round(params.batch_size / float(np.median(thr[name])), 2),
        }
        if isinstance(model, torch.nn.Module):  # an ONNX Runtime session's weights are its file
            out[name]["weight_bytes"] = weight_bytes(model)
    fp32 = [n for n in models if n in fp32_names]
    best = min(fp32, key=lambda n: out[n]["latency_ms_p50"])
    for name in models:
        if name != "fp32":
            out[name]["vs_fp32"] = _ratios(out[name], out["fp32"])
        if best != "fp32" and name != best:
            out[name]["vs_best_fp32"] = {"baseline": best, **_ratios(out[name], out[best])}
    return out


@torch.inference_mode()
def title_throughput(model, tokenizer, texts, batch_size, pad_to):
    """Titles/s and real (non-padding) tokens/s on real titles, two ways: length-sorted batches
    padded to their longest title (what predict_logits does), and every title padded to
    `pad_to` tokens in file order (what a fixed-shape pipeline does)."""
    from .modeling import predict_logits

    tokens = sum(len(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"])
    start = time.perf_counter()
    predict_logits(model, tokenizer, texts, batch_size)
    dynamic = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[i : i + batch_size]), padding="max_length", truncation=True, max_length=pad_to,
                          return_tensors="pt")
        model(**batch)
    padded = time.perf_counter() - start
    return {
        "dynamic_titles_per_s": round(len(texts) / dynamic, 1),
        "dynamic_tokens_per_s": round(tokens / dynamic, 1),
        "padded_titles_per_s": round(len(texts) / padded, 1),
        "dynamic_over_padded": round(padded / dynamic, 4),
    }
