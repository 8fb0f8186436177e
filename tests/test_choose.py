"""`auto`'s choice (bert_int8/serve/choose.py) on hand-made metrics and model directories: the files
the pipeline would write, with figures chosen so that the expected winner is known."""

import json

import pytest

from bert_int8.backends import model_dir as model_dir_module
from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.digest import files_sha256
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import cpu_id_words
from bert_int8.serve import choose as choose_module
from bert_int8.serve.choose import choose

# name, ISA flags, and vendor/family/model/stepping as machine.environment records them
MACHINE = (
    "Test CPU 9000",
    "avx2 avx512f avx512_vnni",
    {"vendor": "TestVendor", "family": "25", "model": "17", "stepping": "1"},
)
HERE_WORDS = "Test CPU 9000 (TestVendor family 25 model 17 stepping 1; avx2 avx512f avx512_vnni)"
# what a reason adds for a model other than the teacher's FP32 that loses nothing (write_run's default)
LOSS_0 = "; loses at most 0.00 point of test macro-F1 against the teacher's FP32 at 95% (max_f1_loss 1 point)"
# name -> (directory, the files that make it that model)
LAYOUT = {
    "fp32": ("models_save/fp32", ["model.safetensors"]),
    "int8": ("models_save/int8", ["quantization_recipe.json", "int8_state_dict.pt"]),
    "onnx_int8": ("models_save/onnx/int8", ["model.onnx", "onnx_recipe.json"]),
    "openvino_fp32": ("models_save/openvino/fp32", ["model.xml", "model.bin"]),
    "openvino_int8": ("models_save/openvino/int8", ["model.xml", "model.bin", "openvino_recipe.json"]),
    "openvino_bf16": ("models_save/openvino/fp32", ["model.xml", "model.bin"]),
    "student_fp32": ("models_save/student/fp32", ["model.safetensors"]),
    "student_openvino_int8": ("models_save/student/openvino/int8", ["model.xml", "model.bin", "openvino_recipe.json"]),
}


def _spread(figures, spread):
    """Each figure with its +-spread interval (_lo, _hi), as the benchmark records them."""
    out = {}
    for key, value in figures.items():
        out.update({key: value, f"{key}_lo": value * (1 - spread), f"{key}_hi": value * (1 + spread)})
    return out


def fig(tp, lat, size, spread=0.02):
    """Figures of one model: throughput and batch-1 p50 with +-spread intervals, artifact bytes."""
    return {
        **_spread({"throughput_seq_per_s": tp, "latency_ms_p50": lat}, spread),
        "file_bytes": size,
        "disturbed": False,
    }


def write_run(root, trained, losses=None, max_f1_loss=0.01, machine=MACHINE, recipes=None, real=None):
    """metrics/ and models_save/ as a run of the pipeline leaves them; returns root. `losses`:
    each model's loses_at_most against the teacher's FP32 on test (0 where not given);
    `recipes`: the recipe file's JSON, by model name; `real`: the real_titles section (default:
    each model's fixed-shape throughput and batch-1 p50 as its real-title figures)."""
    for name in trained:
        path, files = LAYOUT[name]
        d = root / path
        d.mkdir(parents=True, exist_ok=True)
        (d / "config.json").write_text("{}")
        for f in files:
            if f.endswith("_recipe.json"):  # a recipe is JSON (ONNX Runtime's names its method)
                (d / f).write_text(json.dumps((recipes or {}).get(name, {"written_for": path})))
            else:
                (d / f).write_bytes(f"{path}/{f}".encode())  # different bytes in every directory
    artifacts = {n: {"path": LAYOUT[n][0], "sha256": _digest(_dir(root, n))} for n in trained}
    # fig's throughput and batch-1 p50 as the real-title figures auto ranks on
    as_real = {"throughput_seq_per_s": "dynamic_titles_per_s", "latency_ms_p50": "title_latency_ms_p50"}
    real = (
        real
        if real is not None
        else {
            n: {k.replace(old, new): v for k, v in f.items() for old, new in as_real.items() if k.startswith(old)}
            | {"disturbed": f.get("disturbed", False)}
            for n, f in trained.items()
            if isinstance(f, dict)
        }
    )
    bench = {
        # a 2-tuple: metrics written before the CPU's vendor, family, model and stepping were recorded
        "setup": {
            "cpu": machine[0],
            "isa": machine[1],
            "batch_size": 64,
            **({"cpu_id": machine[2]} if machine[2:] else {}),
        },
        "trained": trained,
        "real_titles": real,
        "artifacts": artifacts,
        "winners": {"trained": {}},
    }
    losses = losses or {}
    comparisons = {f"{n}_vs_fp32": {"loses_at_most": losses.get(n, 0.0)} for n in trained if n != "fp32"}
    evaluation = {"models": {n: {} for n in trained}, "comparisons": comparisons, "test_examples": 100}
    evaluation["max_f1_loss"] = max_f1_loss
    metrics = root / "metrics"
    metrics.mkdir(exist_ok=True)
    (metrics / "benchmark.json").write_text(json.dumps(bench))
    (metrics / "evaluate.json").write_text(json.dumps(evaluation))
    return root


def _digest(model_dir):
    """What the benchmark records, computed here: the model's files, then config.json."""
    return files_sha256(list(model_dir.files) + [model_dir.path / "config.json"])


def _dir(root, name):
    found = ModelDir.open(root / LAYOUT[name][0], "student" if name.startswith("student_") else None)
    return found.as_bf16() if name.endswith("bf16") else found


@pytest.fixture(autouse=True)
def this_machine(monkeypatch):
    monkeypatch.setattr(choose_module, "this_machine", lambda: (*MACHINE[:2], cpu_id_words(MACHINE[2])))
    # a CPU with VNNI: every int8 model's weights fit it (test_full_range_int8_... sets one without)
    monkeypatch.setattr(model_dir_module, "int8_weights_need_headroom", lambda: False)
    monkeypatch.setattr(choose_module.machine, "native_bf16", lambda: True)
    monkeypatch.setattr(choose_module, "torch_installed", lambda: True)


def test_a_clear_winner_among_models_that_share_batches(tmp_path):
    root = write_run(
        tmp_path,
        {
            "fp32": fig(900, 3.4, 23_000_000),
            "onnx_int8": fig(3000, 0.70, 5_800_000),  # fastest, but dynamic int8
            "openvino_int8": fig(1700, 0.99, 6_100_000),
            "openvino_fp32": fig(800, 2.4, 23_200_000),
        },
    )
    choice = choose("throughput", root=root)
    assert choice.model == ModelDir(root / "models_save/openvino/int8", "openvino", "int8", method="static")
    assert choice.reason == (
        "openvino_int8: 1,700 real titles/s [1,666, 1,734] on the test titles batched by length, ahead of every other candidate's interval"
        + LOSS_0
    )
    assert choice.candidates == ["openvino_int8", "fp32", "openvino_fp32"]
    assert set(choice.skipped) == {"onnx_int8"} and "batch-mates" in choice.skipped["onnx_int8"]
    assert choice.health() == {
        "by": "throughput",
        "reason": choice.reason,
        "candidates": choice.candidates,
        "skipped": choice.skipped,
    }
    # batch-1 latency: every model within the budget runs, dynamic int8 included
    by_latency = choose("latency", root=root)
    assert by_latency.model.name == "onnx_int8" and by_latency.skipped == {}
    assert by_latency.reason.startswith("onnx_int8: 0.70 ms p50 [0.69, 0.71] per test title, one per call, ahead of")


def test_a_tie_goes_to_the_smaller_artifact(tmp_path):
    # openvino_fp32's point figure is the best, but the intervals overlap: the smaller int8 wins
    root = write_run(
        tmp_path,
        {"openvino_fp32": fig(1750, 2.4, 23_200_000, 0.05), "openvino_int8": fig(1700, 1.0, 6_100_000, 0.05)},
    )
    choice = choose(root=root)
    assert choice.model.name == "openvino_int8"
    assert choice.reason == (
        "openvino_int8: 1,700 real titles/s [1,615, 1,785] on the test titles batched by length, tie with openvino_fp32 broken by size (5.8 MiB "
        "against 22.1)" + LOSS_0
    )
    assert choice.candidates == ["openvino_fp32", "openvino_int8"]


def measured(tp, lo, hi, size, lat=1.0, lat_lo=0.98, lat_hi=1.02):
    """Figures with the intervals given, as a run's order statistics make them (not symmetric)."""
    return {
        **fig(tp, lat, size),
        "throughput_seq_per_s_lo": lo,
        "throughput_seq_per_s_hi": hi,
        "latency_ms_p50_lo": lat_lo,
        "latency_ms_p50_hi": lat_hi,
    }


def test_size_breaks_a_tie_only_between_models_whose_medians_lie_inside_each_others_intervals(tmp_path):
    # the figures of an AVX2 EPYC run: one slow process stretched openvino_fp32's interval down
    # to 631 titles/s, which reaches openvino_int8's 681, so the call is a tie; but openvino_fp32's
    # median (1,192) is far outside openvino_int8's [443, 681]: 665 titles/s is no tie for size
    trained = {
        "openvino_fp32": measured(1192, 631, 1323, 23_200_000),
        "openvino_int8": measured(665, 443, 681, 6_100_000),
    }
    choice = choose(root=write_run(tmp_path / "two", trained))
    assert choice.model.name == "openvino_fp32"
    assert choice.reason == (
        "openvino_fp32: 1,192 real titles/s [631, 1,323] on the test titles batched by length, tie with openvino_int8; the best median, the "
        "other not close: openvino_fp32's median 1,192.0 is outside openvino_int8's interval [443.0, 681.0]" + LOSS_0
    )
    # a third model close to the fastest (1,150 inside [631, 1,323], 1,192 inside [1,000, 1,250])
    # and smaller than it takes the tie by size; openvino_int8, smaller still, does not
    trained["fp32"] = measured(1150, 1000, 1250, 20_000_000)
    choice = choose(root=write_run(tmp_path / "three", trained))
    assert choice.model.name == "fp32"
    assert choice.reason == (
        "fp32: 1,150 real titles/s [1,000, 1,250] on the test titles batched by length, tie with openvino_fp32 broken by size (19.1 MiB against "
        "22.1); openvino_int8 overlaps openvino_fp32's interval but is not close: openvino_fp32's median 1,192.0 "
        "is outside openvino_int8's interval [443.0, 681.0]"
    )


def test_the_fastest_keeps_a_tie_against_smaller_models_that_are_not_close(tmp_path):
    # a run's figures where the fastest is also the smallest of those close to it, and two
    # smaller models overlap it without being close (each with the fastest's median outside
    # its interval)
    trained = {
        "openvino_fp32": measured(1150, 610, 1243, 23_300_000),
        "openvino_bf16": measured(1145, 642, 1260, 23_400_000),
        "fp32": measured(879, 534, 898, 23_000_000),
        "openvino_int8": measured(649, 577, 669, 6_100_000),
    }
    choice = choose(root=write_run(tmp_path, trained))
    assert choice.model.name == "openvino_fp32"
    assert choice.reason == (
        "openvino_fp32: 1,150 real titles/s [610, 1,243] on the test titles batched by length, tie with openvino_bf16 broken by size (22.2 MiB "
        "against 22.3); fp32, openvino_int8 overlap its interval but are not close: openvino_fp32's median "
        "1,150.0 is outside fp32's interval [534.0, 898.0]; openvino_fp32's median 1,150.0 is outside "
        "openvino_int8's interval [577.0, 669.0]" + LOSS_0
    )


def test_closeness_holds_for_latency_too(tmp_path):
    # lower is better: 1.8 ms reaches below the fastest's 2.0, a tie; but the fastest's 1.0 ms
    # is outside the other's [1.8, 2.1], so the smaller model is not served for its size
    trained = {
        "openvino_fp32": measured(1000, 990, 1010, 23_200_000, 1.0, 0.9, 2.0),
        "openvino_int8": measured(1700, 1690, 1710, 6_100_000, 1.9, 1.8, 2.1),
    }
    choice = choose("latency", root=write_run(tmp_path, trained))
    assert choice.model.name == "openvino_fp32"
    assert choice.reason == (
        "openvino_fp32: 1.00 ms p50 [0.90, 2.00] per test title, one per call, tie with openvino_int8; the best median, the other "
        "not close: openvino_fp32's median 1.000 is outside openvino_int8's interval [1.800, 2.100]" + LOSS_0
    )


def test_a_model_not_close_because_its_own_median_is_outside_the_fastests_interval(tmp_path):
    # the other way round: openvino_int8's wide [600, 1,100] holds the fastest's 1,000, but its
    # own 800 lies outside the fastest's [950, 1,050]
    trained = {
        "openvino_fp32": measured(1000, 950, 1050, 23_200_000),
        "openvino_int8": measured(800, 600, 1100, 6_100_000),
    }
    choice = choose(root=write_run(tmp_path, trained))
    assert choice.reason == (
        "openvino_fp32: 1,000 real titles/s [950, 1,050] on the test titles batched by length, tie with openvino_int8; the best median, the other "
        "not close: openvino_int8's median 800.0 is outside openvino_fp32's interval [950.0, 1,050.0]" + LOSS_0
    )


def test_a_tie_of_equal_sizes_goes_to_the_better_point_figure(tmp_path):
    root = write_run(tmp_path, {"fp32": fig(1000, 3.0, 1000, 0.05), "openvino_fp32": fig(1020, 2.4, 1000, 0.05)})
    choice = choose(root=root)
    assert choice.reason == (
        "openvino_fp32: 1,020 real titles/s [969, 1,071] on the test titles batched by length, tie with fp32, the same size as fp32: the better "
        "point figure" + LOSS_0
    )


def test_models_over_the_f1_loss_bound_are_skipped(tmp_path):
    trained = {"fp32": fig(900, 3.4, 23_000_000), "openvino_int8": fig(1700, 1.0, 6_100_000)}
    root = write_run(tmp_path, trained, losses={"openvino_int8": 0.012})
    choice = choose(root=root)
    assert choice.model.name == "fp32"  # the reference is always a candidate
    assert choice.skipped == {
        "openvino_int8": "test macro-F1 loses up to 0.0120 against the teacher's FP32 at 95%, over max_f1_loss 0.01"
    }
    assert choice.reason.endswith(", the only candidate")
    # a loss of exactly the bound meets it
    write_run(tmp_path, trained, losses={"openvino_int8": 0.01})
    assert choose(root=root).model.name == "openvino_int8"


def test_students_are_candidates_within_the_f1_loss_bound(tmp_path):
    trained = {
        "fp32": fig(900, 3.4, 23_000_000),
        "openvino_int8": fig(1700, 1.0, 6_100_000),
        "student_fp32": fig(1800, 1.8, 12_000_000),
        "student_openvino_int8": fig(3400, 0.5, 3_100_000),
    }
    losses = {"openvino_int8": 0.002, "student_fp32": 0.004, "student_openvino_int8": 0.013}
    root = write_run(tmp_path, trained, losses=losses)
    choice = choose(root=root)
    assert choice.model == ModelDir(tmp_path / "models_save/student/fp32", "torch", "fp32", "student")
    assert choice.model.name == "student_fp32" and choice.reason.startswith("student_fp32: 1,800 real titles/s")
    assert choice.skipped == {
        "student_openvino_int8": "test macro-F1 loses up to 0.0130 against the teacher's FP32 at 95%, over "
        "max_f1_loss 0.01"
    }
    # --max-f1-loss overrides evaluate.json's bound
    assert choose(root=root, max_f1_loss=0.02).model.name == "student_openvino_int8"
    assert choose(root=root, max_f1_loss=0.001).model.name == "fp32"
    with pytest.raises(PipelineError, match=r"^--max-f1-loss: -0.1; a fraction"):
        choose(root=root, max_f1_loss=-0.1)
    evaluation = json.loads((root / "metrics/evaluate.json").read_text())
    (root / "metrics/evaluate.json").write_text(json.dumps({**evaluation, "max_f1_loss": "1%"}))
    with pytest.raises(PipelineError, match=r"evaluate.json: max_f1_loss: '1%'; a fraction"):
        choose(root=root)


def test_nothing_left_to_choose_is_refused(tmp_path):
    root = write_run(tmp_path, {"onnx_int8": fig(3000, 0.7, 5_800_000)}, losses={"onnx_int8": 0.2})
    with pytest.raises(PipelineError, match=r"no model to choose by throughput \(onnx_int8: test macro-F1 loses up"):
        choose(root=root)


def test_a_bf16_winner_runs_from_its_fp32_directory(tmp_path):
    trained = {"openvino_fp32": fig(800, 2.4, 23_200_000), "openvino_bf16": fig(2100, 1.3, 23_200_000)}
    choice = choose(root=write_run(tmp_path, trained))
    assert choice.model == ModelDir(tmp_path / "models_save/openvino/fp32", "openvino", "bf16")


def test_a_bf16_model_is_skipped_where_the_cpu_has_no_native_bf16(tmp_path, monkeypatch):
    trained = {"openvino_fp32": fig(800, 2.4, 23_200_000), "openvino_bf16": fig(2100, 1.3, 23_200_000)}
    monkeypatch.setattr(choose_module.machine, "native_bf16", lambda: False)
    choice = choose(root=write_run(tmp_path, trained), allow_other_machine=True)
    assert choice.model.name == "openvino_fp32" and "no native BF16" in choice.skipped["openvino_bf16"]


def test_pytorch_models_are_skipped_where_torch_is_not_installed(tmp_path, monkeypatch):
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1), "int8": fig(2100, 2.2, 1), "onnx_int8": fig(30, 9, 1)})
    monkeypatch.setattr(choose_module, "torch_installed", lambda: False)
    choice = choose("latency", root=root)
    assert choice.model.name == "onnx_int8" and set(choice.skipped) == {"fp32", "int8"}


def test_a_directory_that_changed_since_the_benchmark_is_refused(tmp_path):
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1), "openvino_int8": fig(1700, 1.0, 1)})
    (root / "models_save/openvino/int8/model.bin").write_bytes(b"retrained since")
    with pytest.raises(PipelineError) as err:
        choose(root=root)
    assert str(err.value).startswith(
        f"{root / 'models_save/openvino/int8'}: its files differ from the openvino_int8 that "
        f"{root / 'metrics/benchmark.json'} measured (sha256 "
    )
    # so is one whose labels changed, with the same weights
    root = write_run(tmp_path / "labels", {"fp32": fig(900, 3.4, 1), "openvino_int8": fig(1700, 1.0, 1)})
    (root / "models_save/openvino/int8/config.json").write_text('{"id2label": {"0": "other"}}')
    with pytest.raises(PipelineError, match="its files differ from the openvino_int8"):
        choose(root=root)
    root = tmp_path
    # a directory that now holds another kind of model is refused too
    (root / "models_save/openvino/int8/openvino_recipe.json").unlink()
    with pytest.raises(PipelineError, match="holds openvino_fp32, but .* measured openvino_int8 there"):
        choose(root=root)


def test_metrics_from_another_machine_are_refused_unless_allowed(tmp_path):
    other = ("Other CPU 1", "avx2")
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1)}, machine=other)
    with pytest.raises(PipelineError) as err:
        choose(root=root)
    assert str(err.value) == (
        f"{root / 'metrics/benchmark.json'}: measured on Other CPU 1 (avx2), but this machine is "
        f"{HERE_WORDS}; another CPU can have another winner: rerun the benchmark here, or pass --allow-other-machine"
    )
    choice = choose(allow_other_machine=True, root=root)
    assert choice.model.name == "fp32" and "measured on Other CPU 1 (avx2), not this machine" in choice.reason
    # the same CPU name with other ISA flags (another VM type) is another machine too
    write_run(tmp_path, {"fp32": fig(900, 3.4, 1)}, machine=(MACHINE[0], "avx2"))
    with pytest.raises(PipelineError, match="measured on Test CPU 9000 \\(avx2\\), but this machine is"):
        choose(root=root)
    # the same name and flags, another model of CPU (a VM names Zen 3 and Zen 4 alike): refused too
    zen3 = {**MACHINE[2], "family": "25", "model": "1"}
    write_run(tmp_path, {"fp32": fig(900, 3.4, 1)}, machine=(*MACHINE[:2], zen3))
    with pytest.raises(
        PipelineError, match="TestVendor family 25 model 1 stepping 1; avx2 avx512f avx512_vnni\\), but"
    ):
        choose(root=root)
    # the same in every field: chosen; and metrics that predate the record compare name and flags
    for machine in (MACHINE, MACHINE[:2]):
        write_run(tmp_path, {"fp32": fig(900, 3.4, 1)}, machine=machine)
        assert "not this machine" not in choose(root=root).reason


def test_full_range_int8_is_refused_on_a_cpu_without_vnni_unless_allowed(tmp_path, monkeypatch):
    """An int8 model built with all 8 bits of its weights (on a VNNI CPU), chosen on a CPU whose
    sums saturate with them (ModelDir.weight_range_warning, tests/test_weight_range.py)."""
    monkeypatch.setattr(model_dir_module, "int8_weights_need_headroom", lambda: True)
    for fix, refused in (("first layer", True), ("every layer", False)):
        trained = {"fp32": fig(900, 3.4, 1), "openvino_int8": fig(1700, 1.0, 1)}
        root = write_run(tmp_path, trained, recipes={"openvino_int8": {"overflow_fix": fix}})
        if refused:
            with pytest.raises(PipelineError) as err:
                choose(root=root)
            assert str(err.value) == (
                f"{root / 'models_save/openvino/int8'}: openvino_int8's int8 weights use all 8 bits, as built on a "
                "CPU with VNNI; this CPU has none, so their sums can saturate: rebuild it here with "
                "`dvc repro -f -s quantize`, or pass --allow-full-range-int8"
            )
            allowed = choose(root=root, allow_full_range_int8=True)
            assert allowed.model.name == "openvino_int8" and "(--allow-full-range-int8)" in allowed.reason
        else:
            assert choose(root=root).model.name == "openvino_int8"


@pytest.mark.parametrize("name", ["benchmark.json", "evaluate.json"])
@pytest.mark.parametrize("damage", ["missing", "corrupt", "not_an_object"])
def test_missing_or_corrupt_metrics_are_refused_naming_the_file(tmp_path, name, damage):
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1)})
    path = root / "metrics" / name
    if damage == "missing":
        path.unlink()
    else:
        path.write_text({"corrupt": '{"trained": ', "not_an_object": "[1, 2]"}[damage])
    expected = {"missing": "not found", "corrupt": "not valid JSON", "not_an_object": "expected a JSON object"}
    with pytest.raises(PipelineError, match=f"^{path}: {expected[damage]}"):
        choose(root=root)


@pytest.mark.parametrize(
    "name, drop_key",
    [
        ("benchmark.json", "trained"),
        ("benchmark.json", "artifacts"),
        ("evaluate.json", "max_f1_loss"),
        ("evaluate.json", "comparisons"),
    ],
)
def test_metrics_without_a_section_are_refused_naming_it(tmp_path, name, drop_key):
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1)})
    path = root / "metrics" / name
    data = json.loads(path.read_text())
    del data[drop_key]
    path.write_text(json.dumps(data))
    with pytest.raises(PipelineError, match=f"^{path}: no {drop_key}"):
        choose(root=root)


def test_the_cli_takes_auto_and_its_flags(tmp_path, monkeypatch):
    from bert_int8.cli import build_parser, resolve_model

    for command in ("predict", "serve"):
        args = build_parser().parse_args([command, "auto", "--prefer", "latency", "--allow-other-machine"])
        assert (args.model_dir, args.prefer, args.allow_other_machine) == ("auto", "latency", True)
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1), "onnx_int8": fig(3000, 0.7, 1)})
    monkeypatch.chdir(root)
    model, chosen = resolve_model(build_parser().parse_args(["serve", "auto", "--prefer", "latency"]))
    assert model.name == "onnx_int8" and chosen["by"] == "latency"
    model, chosen = resolve_model(build_parser().parse_args(["serve", "auto"]))
    assert model.name == "fp32" and chosen["by"] == "throughput"
    assert resolve_model(build_parser().parse_args(["serve", "models_save/fp32"])) == ("models_save/fp32", None)
    with pytest.raises(PipelineError, match="apply to `auto` only"):
        resolve_model(build_parser().parse_args(["serve", "models_save/fp32", "--prefer", "latency"]))
    with pytest.raises(PipelineError, match="apply to `auto` only"):
        resolve_model(build_parser().parse_args(["predict", "models_save/fp32", "--max-f1-loss", "0.02"]))
    args = build_parser().parse_args(["predict", "auto", "--max-f1-loss", "0.5", "--prefer", "latency"])
    assert resolve_model(args)[0].name == "onnx_int8"


def test_the_help_speaks_of_every_backend_and_auto():
    from bert_int8.cli import build_parser

    parser = build_parser()
    for command in ("predict", "serve"):
        text = " ".join(parser._subparsers._group_actions[0].choices[command].format_help().split())
        for word in ("PyTorch", "ONNX Runtime", "OpenVINO", "models_save/onnx", "models_save/openvino", "auto"):
            assert word in text, (command, word)
        assert "torch intra-op threads" not in text


def real_fig(rate, lat, spread=0.02):
    """Real-title figures of one model: the batched rate and the p50 of one title per call."""
    return {**_spread({"dynamic_titles_per_s": rate, "title_latency_ms_p50": lat}, spread), "disturbed": False}


def test_auto_ranks_on_real_titles_not_on_the_fixed_shape(tmp_path):
    """On the fixed shape openvino_int8 wins both ways; on real titles (every length, and one
    title per call) openvino_fp32 and then onnx_int8 do: the real-title figures decide."""
    trained = {
        "openvino_int8": fig(1700, 1.0, 6_100_000),
        "openvino_fp32": fig(800, 2.4, 23_200_000),
        "onnx_int8": fig(1500, 1.5, 5_800_000),
    }
    real = {
        "openvino_int8": real_fig(1000, 3.0),  # pays for each new input shape
        "openvino_fp32": real_fig(2000, 2.0),
        "onnx_int8": real_fig(2500, 1.2),  # fastest, but dynamic int8: not by throughput
    }
    root = write_run(tmp_path, trained, real=real)
    by_rate = choose("throughput", root=root)
    assert by_rate.model.name == "openvino_fp32"
    assert by_rate.reason.startswith(
        "openvino_fp32: 2,000 real titles/s [1,960, 2,040] on the test titles batched by length, ahead of"
    )
    by_latency = choose("latency", root=root)
    assert by_latency.model.name == "onnx_int8"
    assert by_latency.reason.startswith("onnx_int8: 1.20 ms p50 [1.18, 1.22] per test title, one per call, ahead of")
    # a tie on real titles goes to the smaller file, whose size is the fixed-shape table's
    real["openvino_int8"] = real_fig(1990, 3.0)
    root = write_run(tmp_path, trained, real=real)
    tie = choose("throughput", root=root)
    assert tie.model.name == "openvino_int8" and "broken by size (5.8 MiB against 22.1)" in tie.reason


def test_metrics_without_the_real_title_figures_are_refused_in_one_line(tmp_path):
    root = write_run(tmp_path, {"fp32": fig(900, 3.4, 1)}, real={"fp32": {"dynamic_titles_per_s": 900.0}})
    with pytest.raises(PipelineError) as err:
        choose("latency", root=root)
    assert str(err.value) == (
        f"{root / 'metrics/benchmark.json'}: no real_titles.<model>.title_latency_ms_p50; rerun the benchmark "
        "(dvc repro)"
    )
    assert choose("throughput", root=root).model.name == "fp32"
    bench = json.loads((root / "metrics/benchmark.json").read_text())
    (root / "metrics/benchmark.json").write_text(json.dumps({**bench, "setup": {**bench["setup"], "cpu_id": "Zen 4"}}))
    with pytest.raises(PipelineError, match="benchmark.json: setup.cpu_id is not a map of vendor, family, model"):
        choose(root=root)
