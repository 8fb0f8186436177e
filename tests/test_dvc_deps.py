"""dvc.yaml lists, for each stage, every package module the stage's script imports (directly or
through other modules): a change to any of them must rerun the stage. Lists kept by hand drift;
this test keeps them true."""

import ast
import subprocess
from pathlib import Path

import yaml
from conftest import REPO

PKG = "bert_int8"
# Modules a stage runs in a subprocess (`python -m bert_int8.cli serve ...`), which no import shows.
SUBPROCESS = {"load_test": ["cli", "load_gen"]}


def _files(module):
    """The files of a package module: x.py, or every file of the subpackage x/ (one dependency:
    the backends' registry imports each of its modules by name, which no import statement shows)."""
    package = REPO / PKG / module
    return sorted(package.glob("*.py")) if package.is_dir() else [REPO / PKG / f"{module}.py"]


def _imports(path):
    """Package modules imported by one file (absolute `bert_int8.x` and relative `.x` forms; in
    a subpackage, `..x` is the package's x and `.y` the subpackage itself)."""
    depth = int(Path(path).parent.parent == REPO / PKG)  # 1 inside a subpackage
    found = set()
    for node in ast.walk(ast.parse(Path(path).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == depth + 1 or module == PKG or module.startswith(PKG + "."):
                module = module.removeprefix(PKG).lstrip(".")
                found.update([module.split(".")[0]] if module else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith(PKG + "."))
    return {m for m in found if (REPO / PKG / f"{m}.py").is_file() or (REPO / PKG / m).is_dir()}


def closure(modules):
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            for path in _files(m):
                todo.extend(_imports(path))
    return seen


def test_every_imported_module_is_a_dependency_of_its_stage():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert set(stages) == {p.stem for p in (REPO / "stages").glob("*.py")}
    for name, stage in stages.items():
        script = REPO / "stages" / f"{name}.py"
        needed = closure(_imports(script) | set(SUBPROCESS.get(name, [])))
        deps = {d for d in stage["deps"] if isinstance(d, str)}
        listed = {Path(d).stem for d in deps if d.startswith(PKG + "/")}
        assert f"stages/{name}.py" in deps
        assert needed - listed == set(), f"{name}: imports not in dvc.yaml deps"
        assert listed - needed == set(), f"{name}: dvc.yaml deps it does not import (they rerun it for nothing)"


def test_the_closure_follows_relative_imports():
    assert {"errors", "atomic", "backends"} <= closure({"model_dir"})
    # imports inside functions count (the PyTorch backend loads modeling when it loads a model)
    assert "modeling" in closure({"model_dir"})


def test_training_does_not_depend_on_the_runtimes():
    """Editing a runtime's module reruns quantize and what follows, never data preparation or training."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name in ("prepare_data", "train"):
        assert "backends" not in closure(_imports(REPO / "stages" / f"{name}.py"))
        assert "bert_int8/backends" not in stages[name]["deps"]


def test_stages_that_load_an_own_model_depend_on_models_in():
    """A model.finetuned / model.pretrained folder under models_in/ reruns the stages that load
    it when its files change (a folder elsewhere, or a hub id, DVC cannot see)."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    loading = {
        n for n, s in stages.items() if {"model", "model.finetuned", "model.pretrained"} & set(s.get("params", []))
    }
    assert {"prepare_data", "train"} <= loading
    # benchmark and distill read train's output (models_save/fp32), not the folder
    for name in loading - {"benchmark", "distill"}:
        assert "models_in" in stages[name]["deps"], name
    # The folder exists in a fresh clone, and the project puts nothing there whose edit would
    # rerun the pipeline (a user's models, or their .dvc files, are theirs).
    tracked = subprocess.run(["git", "ls-files", "models_in"], cwd=REPO, capture_output=True, text=True).stdout
    assert "models_in/.gitkeep" in tracked.split()
    assert not [f for f in tracked.split() if f.lower().endswith((".md", ".txt", ".rst"))]


def test_quantize_outputs_and_model_deps_are_the_registrys():
    """Every backend's folders under models_save/ are quantize's outs, and deps of each stage
    that reads the models: a runtime added to the registry but not here would never rerun them."""
    from bert_int8 import backends

    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    folders = {f"models_save/{d}" for b in backends.BACKENDS.values() for d in b.quantize_outputs()}
    assert {o for o in stages["quantize"]["outs"] if isinstance(o, str)} == folders
    for name in ("evaluate", "benchmark", "load_test"):
        assert folders | {"models_save/fp32"} <= set(stages[name]["deps"]), name
