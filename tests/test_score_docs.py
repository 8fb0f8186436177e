"""docs/scoring.md: its figures block is what scripts/score_bench.py renders from the committed
metrics/score_bench.json, and the sizes it states are the code's."""

import json

from conftest import REPO, load_script

from bert_int8.cli import build_parser
from bert_int8.data.splits import MAX_TEXT_CHARS
from bert_int8.score.job import ScoreSpec
from bert_int8.score.ray_engine import BLOCK_BYTES

DOCS = (REPO / "docs" / "scoring.md").read_text(encoding="utf-8")
WORDS = " ".join(DOCS.split())  # sentences, whatever their line breaks


def test_the_figures_are_the_committed_benchmarks():
    bench = load_script("score_bench")
    result = json.loads((REPO / "metrics" / "score_bench.json").read_text(encoding="utf-8"))
    block = DOCS.split(bench.START, 1)[1].split(bench.END, 1)[0]
    assert block.strip() == bench.render(result).strip(), "run: python scripts/score_bench.py --write-docs"
    assert result["machine"]["cpu"] in block


def test_the_sizes_the_docs_state_are_the_codes():
    from ray.data.context import MAX_SAFE_BLOCK_SIZE_FACTOR

    score_args = build_parser().parse_args(["score", "auto", "in.jsonl", "-o", "out"])
    assert f"(default {score_args.rows_per_part:,})" in WORDS
    assert f"at most {ScoreSpec.chunk_rows:,} records" in WORDS
    assert f"a text over {MAX_TEXT_CHARS:,} characters" in WORDS
    assert f"larger than {MAX_SAFE_BLOCK_SIZE_FACTOR * BLOCK_BYTES / 2**20:g} MiB" in WORDS
    assert f"a chunk of {ScoreSpec.chunk_rows:,} very long texts" in WORDS


def test_the_readme_points_to_the_docs():
    assert "docs/scoring.md" in (REPO / "README.md").read_text(encoding="utf-8")
