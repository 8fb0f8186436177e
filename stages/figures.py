"""Stage figures: the pipeline's plots rendered to SVG, offline, for the docs and reviews.

Reads:  dvclive/plots/metrics/ (training loss, dev accuracy), plots/confusion/,
        metrics/evaluate.json, metrics/benchmark.json, data/prepared/classes.json
Writes: plots/images/{training,tradeoff,frontier,confusion,speed}.svg (image plots in dvc.yaml, so
        `dvc plots diff` puts old and new side by side)
Params: none

A missing or corrupt input file stops the stage with one line naming it (exit 2).
"""

from bert_int8.core.errors import run_stage
from bert_int8.report import figures


def main():
    figures.run()


if __name__ == "__main__":
    run_stage(main)
