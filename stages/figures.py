"""Stage figures: the pipeline's plots rendered to SVG, offline, for the README and reviews.

Reads:  dvclive/plots/metrics/ (training loss, dev accuracy), plots/confusion/,
        metrics/evaluate.json, metrics/benchmark.json, data/prepared/classes.json
Writes: plots/images/{training,tradeoff,confusion,speed}.svg (image plots in dvc.yaml, so
        `dvc plots diff` puts old and new side by side)
Params: none
"""

import json

from bert_int8 import atomic, paths
from bert_int8.errors import run_stage
from bert_int8.figures import render_all


def main():
    evaluation = json.loads((paths.METRICS / "evaluate.json").read_text(encoding="utf-8"))
    benchmark = json.loads((paths.METRICS / "benchmark.json").read_text(encoding="utf-8"))
    classes = json.loads(paths.CLASSES.read_text(encoding="utf-8"))
    with atomic.output_dir(paths.PLOTS / "images") as out:
        written = render_all(evaluation, benchmark, classes, paths.DVCLIVE_DIR, paths.PLOTS / "confusion", out)
    print(f"rendered {', '.join(p.name for p in written)} to {paths.PLOTS / 'images'}")


if __name__ == "__main__":
    run_stage(main)
