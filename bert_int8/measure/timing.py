"""How one model is timed, inside the process that holds it (bert_int8.measure.launcher starts
`processes` fresh processes per model and pools what each returns).

Every timing runs after a warm-up that has seen each shape it will be timed on, then in the
process's share of the `repeats` passes: a figure is the median of all its passes, over every
process, with a distribution-free 95% interval (bert_int8.stats.intervals). The first call of each
shape, and the first pass over the real titles' shapes, are the cold figures: what a server
that has just started meets.
"""

import time
from math import ceil

import numpy as np
import torch

from bert_int8.data.buckets import default_lengths
from bert_int8.measure.canary import UNCHECKED, Canary
from bert_int8.model.modeling import pad, predict_logits


def dummy_batch(vocab_size, batch_size, seq_len, seed=0):
    """Random token ids with a full attention mask (speed does not depend on the values)."""
    g = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(5, vocab_size, (batch_size, seq_len), generator=g),
        "attention_mask": torch.ones(batch_size, seq_len, dtype=torch.long),
        "token_type_ids": torch.zeros(batch_size, seq_len, dtype=torch.long),
    }


def _seconds(fn, *args, **kwargs):
    """How long one call of fn(*args, **kwargs) took (s)."""
    start = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - start


def _record(out, kept, first):
    """Appends one checked pass (Canary.check's kept and first results, dicts of figures) to
    `out`: each scalar figure under its key, and the first timing's under UNCHECKED + key (what a
    run without the canary would have kept); a list (every call's time) is extended."""
    for key, value in kept.items():
        if isinstance(value, list):
            out.setdefault(key, []).extend(value)
        else:
            out.setdefault(key, []).append(value)
            out.setdefault(UNCHECKED + key, []).append(first[key])


def _pass_seconds(model, batch, calls, min_seconds):
    """Each call's time (s) in one timed pass: at least `calls` calls, and more until the pass
    has lasted `min_seconds` (pyperf's min_time). A pass of nine 0.3 ms calls lasts 3 ms, and one
    interrupt in it moves its figure by a tenth; a model that slow needs no more calls."""
    times = []
    while len(times) < calls or sum(times) < min_seconds:
        times.append(_seconds(model, **batch))
    return times


@torch.inference_mode()
def fixed_shape_passes(model, vocab_size, params, passes=None, canary=None):
    """Per-pass batch-1 latency (the p50 of each pass's calls, ms; every call's time too) and
    batch throughput (sequences/s from the pass's median call), and the cold first call of
    each shape (before any warm-up). `passes`: this process's share of the timed passes
    (default all `repeats`). A pass has at least as many calls whatever the share, so the calls
    add up to at least `runs` and `throughput_runs` over all processes, and lasts at least
    `min_pass_seconds`. Each shape's warm-up, the cold call included, is at least `warmup`
    calls at batch 1 and lasts at least `min_pass_seconds` too. Each timed pass is checked by
    the process's `canary` (default: none), as in every pass function below."""
    canary = canary or Canary(None)
    one = dummy_batch(vocab_size, 1, params.seq_len)
    big = dummy_batch(vocab_size, params.batch_size, params.seq_len)
    cold_one, cold_big = _seconds(model, **one), _seconds(model, **big)
    cold = {"cold_latency_ms": cold_one * 1000, "cold_batch_ms": cold_big * 1000}
    # Each shape's warm-up lasts at least min_pass_seconds (pyperf's warm-up value): the first
    # 0.1 s of batch-1 calls in a fresh process ran 3-20% slower than the next on an AVX2 EPYC,
    # so a few calls were not enough. The cold call counts towards it: a bert-base batch-64
    # call lasts seconds and warms that shape alone.
    _pass_seconds(model, one, params.warmup - 1, params.min_pass_seconds - cold_one)
    _pass_seconds(model, big, 0, params.min_pass_seconds - cold_big)
    per_pass = max(1, -(-params.runs // params.repeats))
    per_pass_big = max(1, -(-params.throughput_runs // params.repeats))

    def latency_pass():
        ms = [s * 1000 for s in _pass_seconds(model, one, per_pass, params.min_pass_seconds)]
        # p95 from all calls: a pass of 9 calls has no p95 of its own
        return {"latency_ms_p50": float(np.percentile(ms, 50)), "latency_ms_calls": ms}

    def throughput_pass():
        big_s = _pass_seconds(model, big, per_pass_big, params.min_pass_seconds)
        return {"throughput_seq_per_s": params.batch_size / float(np.median(big_s))}

    out = {}
    for _ in range(passes or params.repeats):
        _record(out, *canary.check(latency_pass))
        _record(out, *canary.check(throughput_pass))
    return out, cold


def _padded(tokenizer, texts, pad_to):
    return tokenizer(list(texts), padding="max_length", truncation=True, max_length=pad_to, return_tensors="pt")


@torch.inference_mode()
def title_throughput(model, tokenizer, texts, batch_size, pad_to, rounds=1, lengths=None):
    """One pass over real titles, two ways: length-sorted batches padded to their longest
    title, or up to its bucket with `lengths` (what predict_logits does), and every title padded
    to `pad_to` tokens in file order (what a fixed-shape pipeline does), each going `rounds`
    times through the titles. Tokenizing is inside both timings."""
    tokens = sum(len(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"])
    start = time.perf_counter()
    for _ in range(rounds):
        predict_logits(model, tokenizer, texts, batch_size, lengths=lengths)
    dynamic = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(rounds):
        for i in range(0, len(texts), batch_size):
            model(**_padded(tokenizer, texts[i : i + batch_size], pad_to))
    padded = time.perf_counter() - start
    return {
        "dynamic_titles_per_s": rounds * len(texts) / dynamic,
        "dynamic_tokens_per_s": rounds * tokens / dynamic,
        "padded_titles_per_s": rounds * len(texts) / padded,
        "dynamic_over_padded": padded / dynamic,
    }


@torch.inference_mode()
def title_passes(model, tokenizer, texts, params, passes=None, lengths=None, canary=None):
    """Per-pass title_throughput figures (`passes` of them, default `repeats`; the batches
    padded up to `lengths`, the model directory's buckets, where it has them), each pass going
    through the titles as many rounds as make a warm pass last `min_pass_seconds`. Before
    them: a cold dynamic pass (timed: the first pass over the titles' shapes, its own figure),
    untimed warm dynamic passes, at least one, until the warm-up has lasted `min_pass_seconds`,
    and one untimed call of each padded shape (a full batch, and the last short one)."""
    warm_up = _seconds(predict_logits, model, tokenizer, texts, params.batch_size, lengths=lengths)
    cold = {"cold_titles_per_s": len(texts) / warm_up}
    # Warm dynamic passes, untimed, until the warm-up (the cold pass included) has lasted
    # min_pass_seconds; at least one, whose length sets how many rounds of the titles a timed
    # pass makes to last min_pass_seconds (1,000 titles by the fastest model on a Zen 5 took
    # 90 ms warm; a cold pass is up to about 3x slower, so it cannot set them)
    while True:
        warm = _seconds(predict_logits, model, tokenizer, texts, params.batch_size, lengths=lengths)
        warm_up += warm
        if warm_up >= params.min_pass_seconds:
            break
    rounds = max(1, ceil(params.min_pass_seconds / warm)) if warm > 0 else 1
    # a padded batch has the shape of the first or of the last (short) one: a whole padded pass
    # would warm nothing more
    for first in {0, (len(texts) - 1) // params.batch_size * params.batch_size}:
        model(**_padded(tokenizer, texts[first : first + params.batch_size], params.seq_len))
    canary = canary or Canary(None)
    out = {}
    for _ in range(passes or params.repeats):
        _record(
            out,
            *canary.check(
                lambda: title_throughput(model, tokenizer, texts, params.batch_size, params.seq_len, rounds, lengths)
            ),
        )
    return out, cold


def _one_title_calls(model, tokenizer, texts, lengths=None):
    """Each title's call alone, in order, tokenizing, padding (up to its bucket with `lengths`)
    and reading the logits out included, as predict_logits does for a batch: (ms per call, the
    width of each call's input)."""
    max_length = tokenizer.model_max_length
    ms, widths = [], []
    for text in texts:
        start = time.perf_counter()
        features = tokenizer([text], truncation=True, max_length=max_length)
        batch = pad(tokenizer, [{k: v[0] for k, v in features.items()}], lengths)
        model(**batch).logits.float().numpy()
        ms.append((time.perf_counter() - start) * 1000)
        widths.append(batch["input_ids"].shape[1])
    return ms, widths


@torch.inference_mode()
def title_latency_passes(model, tokenizer, texts, params, passes=None, lengths=None, canary=None):
    """Batch-1 latency on real titles, as a service meets them one request at a time: one title
    per call, in their order, tokenizing included, padded as the model is served (up to
    `lengths`, the model directory's buckets, where it has them); per pass the p50 and p95 of
    its calls (ms), `passes` of them (default `repeats`). Each pass is followed by one the other
    way, its p50 under `unbucketed_` or `bucketed_` (the default buckets of the tokenizer's max
    length, bert_int8.data.buckets): what buckets buy or cost this model, from the same process.
    Before them: a cold pass as served, each input width's first call at batch 1 among them
    (the fixed-shape figures warmed one width only); its own figures are its mean call, its worst
    call, and the mean of each width's first call (the cost of an unseen shape), with how many
    widths there were. Then an untimed pass the other way (its unseen widths), and untimed
    passes both ways until the warm-up has lasted `min_pass_seconds`."""
    if lengths:
        other, other_key = None, "unbucketed_title_latency_ms_p50"
    else:
        other, other_key = default_lengths(tokenizer.model_max_length), "bucketed_title_latency_ms_p50"
    cold_ms, widths = _one_title_calls(model, tokenizer, texts, lengths)
    first = [ms for i, ms in enumerate(cold_ms) if widths[i] not in widths[:i]]
    cold = {
        "cold_title_latency_ms_mean": float(np.mean(cold_ms)),
        "cold_title_latency_ms_max": max(cold_ms),
        "cold_new_length_ms_mean": float(np.mean(first)),
        "cold_new_lengths": len(first),
    }
    warm_up = (sum(cold_ms) + sum(_one_title_calls(model, tokenizer, texts, other)[0])) / 1000
    while warm_up < params.min_pass_seconds:
        for way in (lengths, other):
            warm_up += sum(_one_title_calls(model, tokenizer, texts, way)[0]) / 1000

    def timed_pass():
        ms, _ = _one_title_calls(model, tokenizer, texts, lengths)
        return {
            "title_latency_ms_p50": float(np.percentile(ms, 50)),
            "title_latency_ms_p95": float(np.percentile(ms, 95)),
            other_key: float(np.percentile(_one_title_calls(model, tokenizer, texts, other)[0], 50)),
        }

    canary = canary or Canary(None)
    out = {}
    for _ in range(passes or params.repeats):
        _record(out, *canary.check(timed_pass))
    return out, cold
