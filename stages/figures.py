"""Stage figures: the pipeline's plots rendered to SVG, offline, for the docs and reviews.

Reads:  dvclive/plots/metrics/ (training loss, dev accuracy), plots/confusion/,
        metrics/evaluate.json, metrics/benchmark.json, data/prepared/classes.json
Writes: plots/images/{training,tradeoff,confusion,speed}.svg (image plots in dvc.yaml, so
        `dvc plots diff` puts old and new side by side)
Params: none

A missing or corrupt input file stops the stage with one line naming it (exit 2).
"""

from bert_int8 import atomic, paths
from bert_int8.data import prepared_classes
from bert_int8.errors import run_stage
from bert_int8.figures import render_all
from bert_int8.metrics_files import read_metrics


def main():
    evaluation = read_metrics(paths.METRICS / "evaluate.json")
    benchmark = read_metrics(paths.METRICS / "benchmark.json")
    classes = prepared_classes()
    with atomic.output_dir(paths.PLOTS / "images") as out:
        written = render_all(evaluation, benchmark, classes, paths.DVCLIVE_DIR, paths.PLOTS / "confusion", out)
    print(f"rendered {', '.join(p.name for p in written)} to {paths.PLOTS / 'images'}")


if __name__ == "__main__":
    run_stage(main)
