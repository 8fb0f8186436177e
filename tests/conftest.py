import copy
import os
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))
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


def run_script(script, cwd, env_extra=None):
    """Run a stage script as DVC does (a subprocess), with the package importable."""
    import subprocess

    env = {**os.environ, "PYTHONPATH": str(REPO), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, str(REPO / "stages" / f"{script}.py")], cwd=cwd, env=env, capture_output=True, text=True
    )


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
