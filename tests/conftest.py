import copy
import os
import shutil
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
import preloaded  # noqa: E402
from fixtures import MICRO_PARAMS, write_raw  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def raw_dir(tmp_path):
    return write_raw(tmp_path / "raw")


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A scratch repository root: data/raw with fixtures, micro params.yaml, cwd set to it."""
    write_raw(tmp_path / "data" / "raw")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(copy.deepcopy(MICRO_PARAMS)), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def prepared_once(tmp_path_factory):
    """data/ and metrics/ after prepare_data on the micro params, run once for the test run."""
    root = tmp_path_factory.mktemp("prepared")
    write_raw(root / "data" / "raw")
    (root / "params.yaml").write_text(yaml.safe_dump(MICRO_PARAMS), encoding="utf-8")
    ok(run_script("prepare_data", root))
    return root


@pytest.fixture
def prepared(workdir, prepared_once):
    """The scratch repository (workdir) as prepare_data leaves it on the micro params."""
    for name in ("data", "metrics"):
        shutil.rmtree(workdir / name, ignore_errors=True)
        shutil.copytree(prepared_once / name, workdir / name)
    return workdir


def stage_env(env_extra=None):
    """The environment stage scripts and CLI commands run in: this one, the package importable."""
    return {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}


def run_script(script, cwd, env_extra=None):
    """Run a stage script as DVC does, in a process of its own, with the package importable.
    The process is forked from an interpreter that has imported torch and transformers
    (tests/preloaded.py says what it shares with that interpreter)."""
    return preloaded.run([REPO / "stages" / f"{script}.py"], cwd, stage_env(env_extra))


def run_cli(args, cwd, env_extra=None):
    """`python -m bert_int8.cli *args` as run_script runs a stage."""
    return preloaded.run(["-m", "bert_int8.cli", *args], cwd, stage_env(env_extra))


def load_script(name):
    """A script of scripts/ as a module (they are run as files, not imported as a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def set_params(workdir, **sections):
    """Update sections of the scratch repository's params.yaml."""
    params = yaml.safe_load((workdir / "params.yaml").read_text())
    for section, values in sections.items():
        params[section].update(values)
    (workdir / "params.yaml").write_text(yaml.safe_dump(params))


def ok(result):
    """A finished stage subprocess that must have succeeded (its stderr tail if not)."""
    assert result.returncode == 0, result.stderr[-3000:]
    return result
