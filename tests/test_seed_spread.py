"""scripts/seed_spread.py: which experiments count as seeds of the same run, and the spread."""

import copy

import pytest
import yaml
from conftest import REPO, load_script


def test_only_the_seed_the_processes_and_the_raw_path_may_differ():
    s = load_script("seed_spread")
    head = yaml.safe_load((REPO / "params.yaml").read_text())
    other = copy.deepcopy(head)
    other["train"].update(seed=7, processes=2)
    other["data"]["raw_dir"] = "/elsewhere/raw"
    assert s.comparable(other) == s.comparable(head)
    other["train"]["learning_rate"] = 0.5
    assert s.comparable(other) != s.comparable(head)
    assert head["train"]["seed"] != 7  # comparable() did not change its argument
    assert head["data"]["raw_dir"] != "/elsewhere/raw"


def test_spread_is_mean_and_sample_std_of_the_figures_all_runs_have():
    runs = {
        1: {"accuracy": 0.90, "int8_f1_drop": 0.001, "commit": "abc1234"},
        2: {"accuracy": 0.92, "commit": "abc1234"},
        3: {"accuracy": 0.91, "commit": "def5678"},
    }
    sp = load_script("seed_spread").spread(runs)
    assert set(sp) == {"accuracy"}
    assert sp["accuracy"]["mean"] == pytest.approx(0.91)
    assert sp["accuracy"]["std"] == pytest.approx(0.01)
