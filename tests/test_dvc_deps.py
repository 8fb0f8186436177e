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
SUBPROCESS = {"load_test": ["cli", "serve.load_gen"]}
# Subpackages that are one dependency: the backends' registry imports each of its modules by
# name, which no import statement shows; score's and cli's modules are only ever used together.
WHOLE = ("backends", "score", "cli")


def _module(dotted):
    """A package module's dependency name: `core.errors` for bert_int8/core/errors.py, `core.params`
    for the package bert_int8/core/params/ (all its files), the folder's name for a module of
    WHOLE; None for what is not a module of the package (a name a module defines)."""
    parts = dotted.split(".")
    if parts[0] in WHOLE:
        return parts[0]
    for depth in range(2, len(parts)):  # a module of a package inside a room is the package
        if (REPO / PKG / "/".join(parts[:depth]) / "__init__.py").is_file():
            return ".".join(parts[:depth])
    path = REPO / PKG / dotted.replace(".", "/")
    return dotted if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file() else None


def _files(module):
    """The files of a dependency name: its .py file, or every file of a package."""
    package = REPO / PKG / module.replace(".", "/")
    return sorted(package.glob("*.py")) if package.is_dir() else [package.with_suffix(".py")]


def _imports(path):
    """Package modules imported by one file, as dependency names (absolute `bert_int8.x.y` and
    relative `.y` / `..x.y` forms, at module level or inside functions)."""
    path = Path(path)
    here = path.parent.relative_to(REPO).parts if path.is_relative_to(REPO / PKG) else ()
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(here[: len(here) - node.level + 1])
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if module == PKG or module.startswith(PKG + "."):
                inner = module.removeprefix(PKG).lstrip(".")
                for alias in node.names:  # `from bert_int8.core import errors`: the module is core.errors
                    found.add(_module(f"{inner}.{alias.name}".lstrip(".")) or _module(inner))
        elif isinstance(node, ast.Import):
            found.update(_module(a.name.removeprefix(PKG + ".")) for a in node.names if a.name.startswith(PKG + "."))
    return found - {None}


def closure(modules):
    seen, todo = set(), list(modules)
    while todo:
        m = todo.pop()
        if m not in seen:
            seen.add(m)
            for path in _files(m):
                todo.extend(_imports(path))
    return seen


def dependency(path):
    """bert_int8/core/errors.py -> core.errors; bert_int8/core/params -> core.params."""
    return path.removeprefix(PKG + "/").removesuffix(".py").replace("/", ".")


def test_every_imported_module_is_a_dependency_of_its_stage():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    assert set(stages) == {p.stem for p in (REPO / "stages").glob("*.py")}
    for name, stage in stages.items():
        script = REPO / "stages" / f"{name}.py"
        needed = closure(_imports(script) | set(SUBPROCESS.get(name, [])))
        deps = {d for d in stage["deps"] if isinstance(d, str)}
        listed = {dependency(d) for d in deps if d.startswith(PKG + "/")}
        assert f"stages/{name}.py" in deps
        assert needed - listed == set(), f"{name}: imports not in dvc.yaml deps"
        assert listed - needed == set(), f"{name}: dvc.yaml deps it does not import (they rerun it for nothing)"


def test_the_closure_follows_relative_imports():
    assert {"core.errors", "core.atomic", "backends"} <= closure({"serve.predict"})
    # imports inside functions count (the PyTorch backend loads modeling when it loads a model)
    assert "model.modeling" in closure({"backends"})


def test_training_does_not_depend_on_the_runtimes():
    """Editing a runtime's module reruns quantize and what follows, never data preparation or
    training; nor does editing the report types of the later stages' metrics."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    for name in ("prepare_data", "train", "distill", "classical"):
        assert {"backends", "core.reports"}.isdisjoint(closure(_imports(REPO / "stages" / f"{name}.py"))), name
    for name in ("prepare_data", "train"):
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
