"""A second opinion on the benchmark's real-title figures: each built model, alone in a fresh
process, `passes` passes of timing.title_throughput in a row (no warm-up of our own), median
titles/s against what metrics/benchmark.json says, within `--tolerance`. A pass here is one
round of the titles, a cold first pass included; the stage's passes make more rounds only where
a warm pass lasts less than benchmark.min_pass_seconds.

    python scripts/recheck_titles.py [--passes 5] [--tolerance 0.15]

Run it on an idle machine right after `dvc repro`; it is how the closing note of issue 17 checks
that the stage's figures are the models' own (the one-process benchmark was off by 2x).
"""

import argparse
import json
import subprocess
import sys

from bert_int8.core import paths
from bert_int8.core.errors import PipelineError, run_stage
from bert_int8.core.metrics_files import read_metrics

WORKER = """
import json, statistics, sys
from bert_int8.data.splits import load_prepared
from bert_int8.backends.model_dir import built_models
from bert_int8.measure.timing import title_throughput
from bert_int8.data.tokenizer import load_tokenizer
name, passes, samples, batch, seq, threads = sys.argv[1], *map(int, sys.argv[2:7])
model_dir = built_models()[name]
model = model_dir.load(threads)
texts = load_prepared("test")[1].texts[:samples]
from bert_int8.core import paths
tok = load_tokenizer(paths.FP32_DIR)
rates = [title_throughput(model, tok, texts, batch, seq)["dynamic_titles_per_s"] for _ in range(passes)]
print(json.dumps({"median": statistics.median(rates), "passes": rates}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passes", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=0.15)
    args = ap.parse_args()
    bench = read_metrics(paths.METRICS / "benchmark.json")
    s = bench["setup"]
    worst = 0.0
    for name, committed in bench["real_titles"].items():
        out = subprocess.run(
            [
                sys.executable,
                "-c",
                WORKER,
                name,
                str(args.passes),
                str(s["title_samples"]),
                str(s["batch_size"]),
                str(s["seq_len"]),
                str(s["threads"]),
            ],
            capture_output=True,
            text=True,
        )
        if out.returncode:
            raise PipelineError(f"{name}: the fresh process failed: {(out.stderr.strip().splitlines() or ['?'])[-1]}")
        fresh = json.loads(out.stdout.strip().splitlines()[-1])["median"]
        off = fresh / committed["dynamic_titles_per_s"] - 1
        worst = max(worst, abs(off))
        print(
            f"{name}: committed {committed['dynamic_titles_per_s']:,.0f} [{committed['dynamic_titles_per_s_lo']:,.0f}, "
            f"{committed['dynamic_titles_per_s_hi']:,.0f}], fresh process {fresh:,.0f} titles/s ({off:+.1%})"
        )
    print(f"largest difference {worst:.1%} (tolerance {args.tolerance:.0%})")
    sys.exit(0 if worst <= args.tolerance else 1)


if __name__ == "__main__":
    run_stage(main)
