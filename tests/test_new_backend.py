"""Adding a runtime is its module and a registry entry: a stub fourth runtime (tests/stub_runtime.py,
PyTorch FP32 under another name) joins through BERT_INT8_BACKENDS alone, and quantize, evaluate,
benchmark and predict run it on micro params with no other change to the project."""

import json

from conftest import REPO, ok, run_cli, run_script, set_params
from fixtures import make_titles, save_tiny_model_dirs

STUB_ENV = {"BERT_INT8_BACKENDS": "stub_runtime", "PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}


def test_a_fourth_runtime_through_the_registry_alone(prepared):
    workdir = prepared
    save_tiny_model_dirs(workdir / "models_save")
    set_params(workdir, quantize={"backends": ["torch", "stub"]}, benchmark={"repeats": 6})
    for stage in ("classical", "quantize", "evaluate", "benchmark"):
        ok(run_script(stage, workdir, STUB_ENV))

    stub = workdir / "models_save" / "stub"
    assert (stub / "fp32" / "stub.safetensors").is_file() and (stub / "int8" / "stub_recipe.json").is_file()
    # The stub's "int8" is the FP32 weights: it loses nothing and agrees on every title.
    quantize = json.loads((workdir / "metrics" / "quantize.json").read_text())
    assert quantize["budget"]["stub"]["dev_f1_drop"] == 0.0
    evaluate = json.loads((workdir / "metrics" / "evaluate.json").read_text())
    assert evaluate["comparisons"]["stub_int8_vs_fp32"]["prediction_agreement"] == 1.0
    assert evaluate["models"]["stub_fp32"]["accuracy"] == evaluate["models"]["fp32"]["accuracy"]
    benchmark = json.loads((workdir / "metrics" / "benchmark.json").read_text())
    for name in ("stub_fp32", "stub_int8"):
        assert benchmark["trained"][name]["throughput_seq_per_s"] > 0, name

    titles = [t for t, _ in make_titles(2, 11)][:5]
    said = {}
    for model in ("models_save/fp32", "models_save/stub/int8"):
        result = ok(run_cli(["predict", model, *titles], workdir, STUB_ENV))
        said[model] = [json.loads(line) for line in result.stdout.splitlines()]
    # the same labels and the same top-k probabilities (to 6 digits): the same weights answered
    assert said["models_save/stub/int8"] == said["models_save/fp32"] and len(said["models_save/fp32"]) == 5


def test_an_unknown_backend_stops_quantize_naming_the_key(workdir):
    # nothing prepared, no model: the param is checked before anything is read
    set_params(workdir, quantize={"backends": ["torch", "tensorrt"]})
    result = run_script("quantize", workdir)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: quantize.backends: unknown backend 'tensorrt' (known: torch, onnxruntime, openvino)"
    ]
    assert not (workdir / "metrics" / "quantize.json").exists()
    # `bert-int8 params` checks the list as the stage does, with the same line
    listed = run_cli(["params"], workdir)
    assert listed.returncode == 2 and listed.stderr.strip().splitlines() == result.stderr.strip().splitlines()


def test_a_broken_plugin_is_one_line_naming_the_variable(workdir):
    save_tiny_model_dirs(workdir / "models_save")
    result = run_cli(["predict", "models_save/fp32", "x"], workdir, {"BERT_INT8_BACKENDS": "no_such_runtime"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: BERT_INT8_BACKENDS: cannot load backend module 'no_such_runtime': No module named 'no_such_runtime'"
    ]


def test_a_plugin_declaring_the_old_batch_attribute_is_one_line_naming_it(workdir):
    """int8_depends_on_batch gave way to int8_methods: a plugin still declaring it would be
    taken for dynamic int8 without a word, so it is refused, naming the module and the key."""
    save_tiny_model_dirs(workdir / "models_save")
    (workdir / "old_runtime.py").write_text(
        "from stub_runtime import Stub\n\n\nclass Old(Stub):\n    name, prefix, subdir = 'old', 'old_', 'old'\n"
        "    int8_depends_on_batch = False\n\n\nBACKEND = Old()\n"
    )
    env = {"BERT_INT8_BACKENDS": "old_runtime", "PYTHONPATH": f"{REPO}:{REPO / 'tests'}:{workdir}"}
    result = run_cli(["predict", "models_save/fp32", "x"], workdir, env)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "'old_runtime' declares int8_depends_on_batch; declare int8_methods" in line
