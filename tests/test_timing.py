import gc
import itertools
import os
import shutil
import weakref
from math import comb
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from fixtures import TOY_BENCHMARK as PARAMS
from fixtures import check_call, make_titles, tiny_bert, tiny_config

from bert_int8.backends.model_dir import ModelDir
from bert_int8.backends.torch_int8 import apply_recipe, make_recipe
from bert_int8.core.digest import model_sha256
from bert_int8.core.heap import freeze_heap
from bert_int8.core.params import QuantizeParams
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.measure.comparison import compare_models
from bert_int8.measure.reference_shape import benchmark_shape, build_shape
from bert_int8.measure.sizes import file_bytes, weight_bytes
from bert_int8.measure.timing import dummy_batch, fixed_shape_passes, title_latency_passes, title_passes
from bert_int8.stats.intervals import median_interval, quantile_interval, ratio_interval
from bert_int8.stats.ranking import named

BACKENDS = ["torch", "onnxruntime", "openvino"]


def _linear_weight_count(model):
    return sum(m.weight.numel() for m in model.modules() if type(m) is torch.nn.Linear)


def test_fp32_weight_bytes_are_the_parameters():
    # BERT's buffers (position ids) are not persistent, so for FP32 the weights are the parameters.
    model = tiny_bert()
    assert weight_bytes(model) == sum(t.numel() * 4 for t in model.parameters())


def test_int8_weight_bytes_count_the_packed_weights():
    model = tiny_bert(vocab_size=50, hidden_size=64, intermediate_size=256)
    qmodel = apply_recipe(model, make_recipe(QuantizeParams()))
    params_only = sum(p.numel() * p.element_size() for p in qmodel.parameters())
    counted = weight_bytes(qmodel)
    # parameters() misses every packed int8 weight (the reference's "63.55 MB" mistake) ...
    assert counted - params_only >= _linear_weight_count(model)
    # ... and each int8 weight takes one byte where it took four.
    saved = weight_bytes(model) - counted
    assert 3 * _linear_weight_count(model) - 2000 <= saved <= 3 * _linear_weight_count(model)


def test_per_channel_counts_its_scales():
    model = tiny_bert(vocab_size=50, hidden_size=64, intermediate_size=256)
    per_tensor = weight_bytes(apply_recipe(model, make_recipe(QuantizeParams())))
    per_channel = weight_bytes(apply_recipe(model, make_recipe(QuantizeParams(scheme="per_channel"))))
    assert per_channel > per_tensor


@pytest.fixture(scope="module")
def toy_shape(tmp_path_factory):
    """Every backend's FP32 and int8 directory of a 1-layer toy BERT, as the pipeline builds them."""
    texts = [t for t, _ in make_titles(2, 5)]
    tok = train_wordpiece(texts, 120, 1, False, 16)
    config = tiny_config(vocab_size=len(tok), num_labels=3)
    qp = QuantizeParams(backends=BACKENDS, max_f1_drop=None)
    dirs = build_shape(config, qp, tok, texts, tmp_path_factory.mktemp("shape"), bf16=True)
    return config, tok, texts, dirs


def test_build_shape_makes_every_backend(toy_shape):
    _, _, _, dirs = toy_shape
    assert set(dirs) == {
        "fp32",
        "int8",
        "bf16",
        "onnx_fp32",
        "onnx_int8",
        "onnx_int8_static",
        "openvino_fp32",
        "openvino_int8",
        "openvino_bf16",
    }
    for name, d in dirs.items():
        assert d.name == name and all(f.is_file() for f in d.files)


def _interval_ok(row, key):
    return row[f"{key}_lo"] <= row[key] <= row[f"{key}_hi"]


def test_compare_models_times_each_model_alone_with_intervals(toy_shape, tmp_path):
    config, tok, texts, dirs = toy_shape
    dirs = {n: d for n, d in dirs.items() if "bf16" not in n}  # BF16 is timed only where it is native
    titles = tmp_path / "titles.txt"
    titles.write_text("\n".join(texts), encoding="utf-8")
    tok.save_pretrained(tmp_path / "tokenizer")
    result = compare_models(dirs, config.vocab_size, PARAMS, (titles, tmp_path / "tokenizer"), desc="benchmark: toy")
    out, real = result["models"], result["real_titles"]
    assert set(out) == set(real) == set(result["artifacts"]) == set(dirs) and "vs_fp32" not in out["fp32"]
    for name, row in out.items():
        sizes = sum(os.stat(f).st_size for f in dirs[name].files)  # the files, measured here
        assert row["file_bytes"] == sizes and row["cold_latency_ms"] > 0 and row["cold_batch_ms"] > 0
        assert all(_interval_ok(row, k) for k in ("latency_ms_p50", "latency_ms_p95", "throughput_seq_per_s"))
        assert all(_interval_ok(real[name], k) for k in ("dynamic_titles_per_s", "padded_titles_per_s"))
        assert real[name]["cold_titles_per_s"] > 0 and isinstance(row["disturbed"], bool)
        assert result["artifacts"][name] == {"path": str(dirs[name].path), "sha256": model_sha256(dirs[name])}
    # each model's bytes are told apart (what the digest covers: test_a_model_digest_covers_...)
    assert len({a["sha256"] for a in result["artifacts"].values()}) == len(dirs)
    assert out["int8"]["vs_fp32"]["file_bytes"] == round(out["int8"]["file_bytes"] / out["fp32"]["file_bytes"], 4)
    assert out["int8"]["vs_fp32"]["weight_bytes"] < 1 and "weight_bytes" not in out["onnx_int8"]
    baselines = {"fp32", "onnx_fp32", "openvino_fp32"}
    for name in ("int8", "onnx_int8", "onnx_int8_static", "openvino_int8"):
        best = out[name]["vs_best_baseline"]
        assert best["latency_baseline"] == min(baselines, key=lambda n: out[n]["latency_ms_p50"])
        assert best["throughput_baseline"] == max(baselines, key=lambda n: out[n]["throughput_seq_per_s"])
        assert _interval_ok(best, "throughput") and _interval_ok(best, "latency_p50")
    assert all("vs_best_baseline" not in out[n] for n in baselines)
    # each call is ranking's over the right models and figure (the rule: tests/test_ranking.py)
    check_call(out, list(out), "latency_ms_p50", True, result["winners"]["batch_1"])
    int8 = ["int8", "onnx_int8", "onnx_int8_static", "openvino_int8"]
    check_call(out, int8, "throughput_seq_per_s", False, result["winners"]["int8_batch_4"])
    check_call(real, int8, "dynamic_titles_per_s", False, result["winners"]["int8_real_titles"])


def test_a_model_digest_covers_its_files_config_tokenizer_and_buckets(toy_shape, tmp_path):
    """Two directories with the same bytes have one digest; a byte changed in any file that
    decides the model's answers or shapes changes it; a file beside them that does not (a
    README) leaves it."""
    model_dir = toy_shape[3]["openvino_int8"]
    copy = tmp_path / "copy"
    shutil.copytree(model_dir.path, copy)
    same = model_sha256(ModelDir.open(copy))
    assert same == model_sha256(model_dir)
    (copy / "README.md").write_text("notes", encoding="utf-8")
    assert model_sha256(ModelDir.open(copy)) == same
    for name in ["config.json", "length_buckets.json", *(f.name for f in model_dir.files)]:
        changed = tmp_path / name
        shutil.copytree(copy, changed)
        (changed / name).write_bytes((changed / name).read_bytes() + b" ")  # one byte more (JSON stays JSON)
        assert model_sha256(ModelDir.open(changed)) != same, name


def test_median_interval_is_the_order_statistics_that_cover_95_percent():
    # 6 passes: min..max covers the median with 1 - 2 / 2**6 = 0.96875
    assert median_interval([5, 1, 4, 2, 3, 100]) == (3.5, 1.0, 100.0, 0.96875)
    # 9 passes: x(2)..x(8) covers 1 - 2 * (1 + 9) / 512 = 0.9609; x(3)..x(7) only 0.8203
    assert median_interval(range(1, 10)) == (5.0, 2.0, 8.0, 1 - 20 / 512)
    # 4 passes cannot reach 95%: min..max, and it says what it is worth (1 - 2 / 16)
    assert median_interval([3, 1, 2, 4]) == (2.5, 1.0, 4.0, 0.875)


def test_median_interval_covers_the_true_median_of_a_skewed_distribution():
    rng = np.random.default_rng(0)
    true_median = 1.0  # lognormal(0, s) has median exp(0)
    hits = sum(
        lo <= true_median <= hi for _, lo, hi, _ in (median_interval(rng.lognormal(0, 0.5, 6)) for _ in range(4000))
    )
    assert 0.955 <= hits / 4000 <= 0.98  # 0.969 expected


def test_ratio_interval_uses_every_pair_and_moses_ranks():
    # a / b over all 36 pairs: each a value six times; Mann-Whitney for 6 and 6 cuts 5 at each
    # end (P(U <= 5) = 0.0206 <= 0.025 < P(U <= 6) = 0.0325, the tables' critical value 5)
    assert ratio_interval([10, 20, 30, 40, 50, 60], [1] * 6) == (35.0, 10.0, 60.0)
    # 8 and 8: the tables' critical value is 13, so ranks 14 and 51 of the 64 ratios
    assert ratio_interval(list(range(1, 9)), [1] * 8) == (4.5, 2.0, 7.0)


def test_ratio_interval_covers_a_known_factor():
    rng = np.random.default_rng(1)
    hits = 0
    for _ in range(1000):
        lo, hi = ratio_interval(rng.lognormal(np.log(2), 0.3, 6), rng.lognormal(0, 0.3, 6))[1:]
        hits += lo <= 2 <= hi
    assert 0.94 <= hits / 1000 <= 0.99  # exact coverage 1 - 2 * 0.0206 = 0.959 in theory


def test_quantile_interval_ranks_from_the_binomial():
    # Binomial(54, 0.95) computed here: the lowest rank whose cdf reaches 0.025, the highest 0.975
    cdf = np.cumsum([comb(54, i) * 0.95**i * 0.05 ** (54 - i) for i in range(55)])
    lo_rank, hi_rank = int(np.argmax(cdf >= 0.025)), min(54, int(np.argmax(cdf >= 0.975)) + 1)
    p95, lo, hi = quantile_interval(range(1, 55), 0.95)
    assert (lo, hi) == (float(lo_rank), float(hi_rank)) and p95 == np.percentile(range(1, 55), 95)


class ShapeRecorder:
    """A stand-in model that records the batch shapes it is called with, in order."""

    def __init__(self):
        self.shapes = []

    def __call__(self, input_ids, **_):
        self.shapes.append(tuple(input_ids.shape))


def test_fixed_shapes_warm_up_every_shape_before_timing_and_cold_is_the_first_call():
    model, params = ShapeRecorder(), PARAMS.model_copy(update={"warmup": 3, "runs": 12, "throughput_runs": 3})
    passes, cold = fixed_shape_passes(model, 50, params)
    one, big = (1, params.seq_len), (params.batch_size, params.seq_len)
    # cold: the first call of each shape; then the rest of `warmup` at batch 1 (with
    # min_pass_seconds 0 the cold big call is that shape's whole warm-up)
    assert model.shapes[:2] == [one, big] and set(cold) == {"cold_latency_ms", "cold_batch_ms"}
    assert model.shapes[2:4] == [one, one]
    timed = model.shapes[4:]
    # 12 runs over 6 passes: 2 calls each; 3 big calls over 6 passes: one each (at least one)
    assert timed == ([one] * 2 + [big]) * params.repeats
    assert len(passes["latency_ms_p50"]) == len(passes["throughput_seq_per_s"]) == params.repeats
    assert len(passes["latency_ms_calls"]) == 2 * params.repeats


def test_a_process_runs_its_share_of_the_passes_each_as_long_as_one_of_all_repeats():
    model, params = ShapeRecorder(), PARAMS.model_copy(update={"warmup": 1, "runs": 12, "throughput_runs": 3})
    passes, _ = fixed_shape_passes(model, 50, params, passes=1)
    one, big = (1, params.seq_len), (params.batch_size, params.seq_len)
    # cold one and big, then one pass of 12 / 6 repeats = 2 batch-1 calls and one big
    assert model.shapes == [one, big, one, one, big] and len(passes["latency_ms_calls"]) == 2


class FakeClock:
    """A clock the stand-in model advances by what its calls cost (patched in for perf_counter)."""

    now = 0.0

    def clock(self):
        return self.now


class ClockedModel(FakeClock, ShapeRecorder):
    """A stand-in model whose call takes a set time on a fake clock: 2**-10 s (about 1 ms) at
    batch 1, 2**-5 s (31.25 ms) at any larger batch; powers of two, so the sums are exact."""

    def __call__(self, input_ids, **_):
        super().__call__(input_ids)
        self.now += 2**-10 if len(input_ids) == 1 else 2**-5


def test_a_pass_goes_on_until_it_has_lasted_min_pass_seconds(monkeypatch):
    model = ClockedModel()
    monkeypatch.setattr("bert_int8.measure.timing.time.perf_counter", model.clock)
    params = PARAMS.model_copy(update={"warmup": 1, "runs": 12, "throughput_runs": 3, "min_pass_seconds": 0.1})
    passes, _ = fixed_shape_passes(model, 50, params, passes=2)
    one, big = (1, params.seq_len), (params.batch_size, params.seq_len)
    cost = {one: 2**-10, big: 2**-5}
    runs = [(shape, len(list(calls))) for shape, calls in itertools.groupby(model.shapes[2:])]
    # after the cold calls: each shape's warm-up, then two passes of batch-1 calls and big ones
    assert [shape for shape, _ in runs] == [one, big] * 3
    for i, (shape, calls) in enumerate(runs):
        spent = (calls + (i < 2)) * cost[shape]  # a warm-up counts its shape's cold call too
        # it lasted min_pass_seconds, and stopped at the first call that made it so (for batch
        # 1 that is far more calls than the 2 that runs / repeats asks for)
        assert spent >= 0.1 > spent - cost[shape], (i, shape, calls)
    assert len(passes["latency_ms_calls"]) == runs[2][1] + runs[4][1]  # every timed batch-1 call
    assert passes["latency_ms_p50"] == [1000 / 1024] * 2
    assert passes["throughput_seq_per_s"] == [params.batch_size * 32.0] * 2
    # a slow model gets no more calls than runs / repeats, and no more warm-up than it needs:
    # 0.001 s less the cold 2**-10 s leaves one batch-1 call; the cold big call outlasts 0.001 s
    params = params.model_copy(update={"min_pass_seconds": 0.001})
    model = ClockedModel()
    monkeypatch.setattr("bert_int8.measure.timing.time.perf_counter", model.clock)
    fixed_shape_passes(model, 50, params, passes=1)
    assert model.shapes[2:] == [one] + [one] * 2 + [big]


class TitleRecorder(ShapeRecorder):
    """A stand-in classifier for the real-title timings: records shapes, answers zero logits."""

    config = SimpleNamespace(num_labels=2)

    def __call__(self, input_ids, **_):
        super().__call__(input_ids)
        return SimpleNamespace(logits=torch.zeros(len(input_ids), 2))


def test_title_passes_warm_every_padded_shape_before_the_timed_passes():
    texts = [t for t, _ in make_titles(2, 5)][:10]  # batches of 4, 4, 2
    tok = train_wordpiece(texts, 120, 1, False, 16)
    model, params = TitleRecorder(), PARAMS.model_copy(update={"batch_size": 4, "seq_len": 12})
    passes, cold = title_passes(model, tok, texts, params, passes=2)
    # the cold dynamic pass (3 batches), one warm one (min_pass_seconds is 0: the warm-up's
    # floor is met, and one warm pass is the least), one call of each padded shape, then two
    # timed passes of 3 dynamic and 3 padded batches: every shape timed was seen before
    shapes = model.shapes
    assert len(shapes) == 3 + 3 + 2 + 2 * 6 and shapes[:3] == shapes[3:6]
    assert sorted(shapes[6:8]) == [(2, 12), (4, 12)]
    assert shapes[11:14] == shapes[17:20] == [(4, 12), (4, 12), (2, 12)]
    assert len(passes["dynamic_titles_per_s"]) == 2 and cold["cold_titles_per_s"] > 0


class ClockedTitleModel(FakeClock, TitleRecorder):
    """TitleRecorder on a fake clock whose first 3 calls (a cold pass over 10 titles in batches
    of 4) take 3 * 2**-5 s each and every later call 2**-5 s: cold is 3x slower than warm, as
    OpenVINO on first-seen shapes was."""

    def __call__(self, input_ids, **kw):
        self.now += 2**-5 * (3 if len(self.shapes) < 3 else 1)
        return super().__call__(input_ids, **kw)


def test_title_warm_up_and_each_pass_last_min_pass_seconds(monkeypatch):
    texts = [t for t, _ in make_titles(2, 5)][:10]  # batches of 4, 4, 2
    tok = train_wordpiece(texts, 120, 1, False, 16)
    model = ClockedTitleModel()
    monkeypatch.setattr("bert_int8.measure.timing.time.perf_counter", model.clock)
    params = PARAMS.model_copy(update={"batch_size": 4, "seq_len": 12, "min_pass_seconds": 0.2})
    passes, cold = title_passes(model, tok, texts, params, passes=2)
    # cold: 3 calls of 3/32 s, 9/32 s = 0.28 s, already past the 0.2 s floor, so one warm pass
    # (the least), 3/32 s = 0.09375 s; a timed pass then makes ceil(0.2 / 0.09375) = 3 rounds of
    # the titles (the cold pass would have made 1): 3 rounds of 3 dynamic batches, then 3 of 3
    # padded ones
    assert cold["cold_titles_per_s"] == 10 / (9 / 32)
    assert len(model.shapes) == 3 + 3 + 2 + 2 * (9 + 9)
    assert passes["dynamic_titles_per_s"] == passes["padded_titles_per_s"] == [30 / (9 / 32)] * 2
    # with no floor, one warm pass and one round
    model = ClockedTitleModel()
    monkeypatch.setattr("bert_int8.measure.timing.time.perf_counter", model.clock)
    title_passes(model, tok, texts, params.model_copy(update={"min_pass_seconds": 0.0}), passes=1)
    assert len(model.shapes) == 3 + 3 + 2 + 6


def test_dummy_batch_is_seeded():
    batch = dummy_batch(100, 2, 5)
    assert batch["input_ids"].shape == (2, 5) and batch["token_type_ids"].is_contiguous()
    assert torch.equal(batch["input_ids"], dummy_batch(100, 2, 5)["input_ids"])


def test_file_bytes_of_a_directory_and_a_list(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_bytes(b"12345")
    (tmp_path / "d" / "y").write_bytes(b"123")
    assert file_bytes(tmp_path / "d") == 8 and file_bytes(tmp_path / "d" / "x") == 5
    assert file_bytes([tmp_path / "d" / "x", tmp_path / "d" / "y"]) == 8


def test_benchmark_shape_reports_the_int8_gemm_share(toy_shape):
    config, tok, texts, _ = toy_shape
    recipe = make_recipe(QuantizeParams())
    result, kernel = benchmark_shape(config, recipe, BACKENDS, tok, texts, PARAMS, bf16=False)
    report, winners = result["models"], result["winners"]
    assert "bf16" not in report and "openvino_bf16" not in report
    # by hand for the toy (h 32, i 64, 1 layer, 3 labels, 8 tokens), 2 ops per multiply-add:
    # Linears 8 * (4*32*32 + 2*32*64) = 65,536; attention 2*8*8*32 = 4,096; head 32*32 + 32*3 = 1,120
    ops = 2 * (65_536 + 4_096 + 1_120)
    assert kernel["gop_per_sequence"] == round(ops / 1e9, 3)
    for name in ("int8", "onnx_int8", "openvino_int8"):
        r = report[name]
        assert abs(r["gops"] - ops * r["throughput_seq_per_s"] / 1e9) <= 0.05
        # gops is rounded to 0.1 and the share to 1e-4 of the kernel's rate: each rounding's half step
        rounding = 0.05 + 0.5e-4 * kernel["int8_matmul_gops"] + 1e-9
        assert abs(r["share_of_int8_matmul_rate"] * kernel["int8_matmul_gops"] - r["gops"]) <= rounding
    assert "gops" not in report["fp32"]
    assert set(named(winners["baseline_batch_1"])) <= {"fp32", "onnx_fp32", "openvino_fp32"}
    assert "artifacts" not in result  # random weights in a directory that is gone


class Cycle:
    """An object in a reference cycle: only the cyclic collector frees it."""

    def __init__(self):
        self.me = self


def test_freeze_heap_collects_then_keeps_what_lives_out_of_later_collections():
    dead, live = Cycle(), Cycle()
    gone = weakref.ref(dead)
    del dead
    try:
        freeze_heap()
        # garbage of before is freed; what lives is no longer among the objects a collection scans
        assert gone() is None and gc.get_freeze_count() > 0
        assert not any(o is live for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is live for o in gc.get_objects())


class ClockedOneTitleModel(FakeClock, TitleRecorder):
    """TitleRecorder on a fake clock whose call costs 2**-12 s per token, plus 2**-6 s the first
    time it meets a length (a runtime that compiles each new input shape)."""

    def __call__(self, input_ids, **kw):
        length = input_ids.shape[1]
        self.now += length * 2**-12 + (2**-6 if (1, length) not in self.shapes else 0)
        return super().__call__(input_ids, **kw)


@pytest.mark.parametrize("served", [None, (8, 16)])
def test_real_titles_one_per_call_in_order_and_the_cold_pass_apart(monkeypatch, served):
    """As served (unbucketed, or with the buckets 8 and 16), and the other way after each pass."""
    texts = [t for t, _ in make_titles(3, 5)]
    tok = train_wordpiece(texts, 120, 1, False, 16)
    lengths = [len(ids) for ids in tok(texts, truncation=True)["input_ids"]]
    assert max(lengths) <= 16 and len({n for n in lengths if n % 8}) > 1  # titles between the buckets
    bucketed = [8 if n <= 8 else 16 for n in lengths]  # the default buckets of a 16-token tokenizer
    as_served, other = (bucketed, lengths) if served else (lengths, bucketed)
    other_key = "unbucketed_title_latency_ms_p50" if served else "bucketed_title_latency_ms_p50"
    model = ClockedOneTitleModel()
    monkeypatch.setattr("bert_int8.measure.timing.time.perf_counter", model.clock)
    params = PARAMS.model_copy(update={"min_pass_seconds": 0.0})
    passes, cold = title_latency_passes(model, tok, texts, params, passes=2, lengths=served)
    # one title per call, in their order: the cold pass, one untimed pass the other way (its
    # unseen widths), then each timed pass followed by its pass the other way (no floor: no more)
    widths = lambda ws: [(1, n) for n in ws]  # noqa: E731
    assert model.shapes == widths(as_served) + widths(other) + (widths(as_served) + widths(other)) * 2
    warm_ms = [n * 2**-12 * 1000 for n in as_served]
    assert passes["title_latency_ms_p50"] == [np.percentile(warm_ms, 50)] * 2
    assert passes["title_latency_ms_p95"] == [np.percentile(warm_ms, 95)] * 2
    assert passes[other_key] == [np.percentile([n * 2**-12 * 1000 for n in other], 50)] * 2
    first_seen = {as_served.index(n) for n in set(as_served)}
    cold_ms = [ms + (2**-6 * 1000 if i in first_seen else 0) for i, ms in enumerate(warm_ms)]
    first_ms = [cold_ms[i] for i in sorted(first_seen)]
    assert cold == {
        "cold_title_latency_ms_mean": np.mean(cold_ms),
        "cold_title_latency_ms_max": max(cold_ms),
        "cold_new_length_ms_mean": np.mean(first_ms),
        "cold_new_lengths": len(set(as_served)),
    }
    # with a floor, untimed passes both ways until the warm-up has lasted it
    model = ClockedOneTitleModel()
    monkeypatch.setattr("bert_int8.measure.timing.time.perf_counter", model.clock)
    other_first = sum(n * 2**-12 for n in other) + 2**-6 * len(set(other) - set(as_served))
    floor = sum(cold_ms) / 1000 + other_first + 1e-9  # the cold pass and the other way's fall short
    params = params.model_copy(update={"min_pass_seconds": floor})
    title_latency_passes(model, tok, texts, params, passes=1, lengths=served)
    assert len(model.shapes) == len(texts) * (2 + 2 + 2)
