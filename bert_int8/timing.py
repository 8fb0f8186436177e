"""Speed of a model, measured the same way for every backend and precision."""

import time

import numpy as np
import torch

from .progress import progress

ROUNDS = 5


def dummy_batch(vocab_size, batch_size, seq_len, seed=0):
    """Random token ids with a full attention mask (speed does not depend on the values)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(5, vocab_size, (batch_size, seq_len), generator=g),
        "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
        "token_type_ids": torch.zeros(batch_size, seq_len, dtype=torch.long),
    }


@torch.inference_mode()
def interleaved_timings(models, batch, runs, warmup, rounds=ROUNDS, bar=None):
    """Seconds per forward pass for each model. The models take turns in blocks (`rounds` of
    them), so that drift in the machine's load hits all alike; each block starts with an
    untimed call, because PyTorch's and ONNX Runtime's thread pools keep spinning for a while
    after their last call, and a model timed call-by-call against the other runtime paid for it
    (measured here: ONNX Runtime int8 26.5 ms alternating, 18.9 ms in blocks). `bar`
    (bert_int8.progress) advances once per block."""
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
            if bar is not None:
                bar.update()
    return times


def latency_summary(seconds):
    ms = np.asarray(seconds) * 1000
    return {
        "latency_ms_p50": round(float(np.percentile(ms, 50)), 3),
        "latency_ms_p95": round(float(np.percentile(ms, 95)), 3),
    }


RATIO_KEYS = {
    "file_bytes": "file_bytes",
    "weight_bytes": "weight_bytes",
    "latency_ms_p50": "latency_p50",
    "throughput_seq_per_s": "throughput",
}


def ratios(a, b, keys=RATIO_KEYS):
    """a's figures over b's, for each key both have (`keys` maps a figure to its ratio's name)."""
    return {out: round(a[k] / b[k], 4) for k, out in keys.items() if k in a and k in b and b[k]}


def _fastest(report, names, key, lowest):
    pick = min if lowest else max
    return pick(names, key=lambda n: report[n][key]) if names else None


def compare_models(model_dirs, vocab_size, params, desc="benchmark"):
    """Size, batch-1 latency and large-batch throughput of each model (name -> ModelDir), all
    from one run, with each model's ratios to PyTorch FP32 ("fp32") and, for int8 models, to
    the best baseline: the fastest non-int8 model (FP32 or BF16) of the same run, at batch 1 for
    latency and at batch `params.batch_size` for throughput. A speedup against slow PyTorch
    eager FP32 alone would flatter. Also names the winner of each batch size, overall and int8.
    Progress under `desc`: one step per model and timing block, both batch sizes."""
    from .sizes import file_bytes, weight_bytes

    models = {name: d.load(params.threads) for name, d in model_dirs.items()}
    one = dummy_batch(vocab_size, 1, params.seq_len)
    big = dummy_batch(vocab_size, params.batch_size, params.seq_len)
    with progress(len(models) * (ROUNDS + 1), f"{desc}: batch 1 and {params.batch_size}", "blocks") as bar:
        lat = interleaved_timings(models, one, params.runs, params.warmup, bar=bar)
        thr = interleaved_timings(models, big, params.throughput_runs, 0, rounds=1, bar=bar)
    out = {}
    for name, model in models.items():
        out[name] = {
            "file_bytes": file_bytes(model_dirs[name].files),
            **latency_summary(lat[name]),
            "throughput_seq_per_s": round(params.batch_size / float(np.median(thr[name])), 2),
        }
        if isinstance(model, torch.nn.Module):  # a runtime session's weights are its files
            out[name]["weight_bytes"] = weight_bytes(model)
    int8 = [n for n in models if model_dirs[n].precision == "int8"]
    base = [n for n in models if model_dirs[n].precision != "int8"]
    best_lat = _fastest(out, base, "latency_ms_p50", lowest=True)
    best_thr = _fastest(out, base, "throughput_seq_per_s", lowest=False)
    for name in models:
        if name != "fp32":
            out[name]["vs_fp32"] = ratios(out[name], out["fp32"])
        if name in int8:
            out[name]["vs_best_baseline"] = {
                "latency_baseline": best_lat,
                "latency_p50": ratios(out[name], out[best_lat])["latency_p50"],
                "throughput_baseline": best_thr,
                "throughput": ratios(out[name], out[best_thr])["throughput"],
            }
    batch = f"batch_{params.batch_size}"
    winners = {
        "batch_1": _fastest(out, list(models), "latency_ms_p50", lowest=True),
        batch: _fastest(out, list(models), "throughput_seq_per_s", lowest=False),
        "int8_batch_1": _fastest(out, int8, "latency_ms_p50", lowest=True),
        f"int8_{batch}": _fastest(out, int8, "throughput_seq_per_s", lowest=False),
        "baseline_batch_1": best_lat,
        f"baseline_{batch}": best_thr,
    }
    return out, winners, models


def title_throughputs(models, tokenizer, texts, batch_size, pad_to):
    """title_throughput of each model (name -> model), with progress."""
    with progress(len(models), "benchmark: real titles", "models") as bar:
        out = {}
        for name, model in models.items():
            out[name] = title_throughput(model, tokenizer, texts, batch_size, pad_to)
            bar.update()
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
        batch = tokenizer(
            list(texts[i : i + batch_size]),
            padding="max_length",
            truncation=True,
            max_length=pad_to,
            return_tensors="pt",
        )
        model(**batch)
    padded = time.perf_counter() - start
    return {
        "dynamic_titles_per_s": round(len(texts) / dynamic, 1),
        "dynamic_tokens_per_s": round(tokens / dynamic, 1),
        "padded_titles_per_s": round(len(texts) / padded, 1),
        "dynamic_over_padded": round(padded / dynamic, 4),
    }
