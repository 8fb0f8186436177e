"""The results are what scripts/results_table.py prints from the metrics committed at HEAD: the
full block of docs/results.md, and the README's headline. A figure in them that no metrics
file of that commit backs fails here. HEAD's, not the workspace's: after `dvc repro` on
another machine (README command one) the workspace holds that machine's figures, and the
documents still describe the committed run (README command two passes)."""

import re
import subprocess

import pytest
from conftest import REPO, load_script

from bert_int8.core.errors import PipelineError


def _in_git():
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode == 0


def test_the_results_and_the_headline_match_the_metrics_committed_at_head():
    table = load_script("results_table")
    rev = "HEAD" if _in_git() else None  # an exported tree has only its workspace metrics
    full = table.render(rev)
    assert table.between(table.RESULTS, table.START, table.END).strip() == full.strip(), (
        "run: python scripts/results_table.py --write"
    )
    headline = table.between(REPO / "README.md", table.HEAD_START, table.HEAD_END).strip()
    assert headline == table.headline(rev).strip(), "run: python scripts/results_table.py --write"
    # the machine, and one line per claim the README promises, each one of the full block's lines
    said = headline.splitlines()
    assert said[0].startswith("Measured on: ") and len(said) == 2 + len(table.HEADLINE)
    assert all(line in full.splitlines() for line in said)


def test_the_block_follows_the_committed_metrics_not_the_workspace(tmp_path, monkeypatch):
    """A rerun elsewhere rewrites metrics/ in the workspace: the rendering from HEAD must not move."""
    if not _in_git():
        pytest.skip("not a git checkout")
    table = load_script("results_table")
    committed = table.render("HEAD")
    monkeypatch.setattr(table, "METRICS", tmp_path)  # the workspace's metrics: gone
    assert table.render("HEAD") == committed
    with pytest.raises(PipelineError, match="^metrics/evaluate.json: not found"):
        table.render()


def test_readme_keeps_the_two_commands_and_a_newcomer_reads_it_in_minutes():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh && source .venv/bin/activate && dvc repro" in readme
    assert "bash scripts/setup.sh && .venv/bin/python -m pytest" in readme
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/setup.sh" in ci and ".venv/bin/python -m pytest" in ci
    assert len(readme.splitlines()) <= 150


def test_every_local_link_of_the_readme_and_docs_resolves():
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if not target.startswith(("http://", "https://")):
                assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_the_benchmark_defaults_the_docs_state_are_the_schemas():
    from bert_int8.core.params import BenchmarkParams

    pipeline = (REPO / "docs" / "pipeline.md").read_text(encoding="utf-8")
    defaults = BenchmarkParams()
    assert f"`benchmark.repeats` passes (default {defaults.repeats}, in all)" in pipeline
    assert f"`benchmark.processes` processes per model (default {defaults.processes})" in pipeline
    assert f"(default {defaults.disturbed_share:.0%})" in pipeline
    assert f"`benchmark.min_pass_seconds` (default {defaults.min_pass_seconds} s;" in pipeline
