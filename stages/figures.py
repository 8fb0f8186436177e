"""Stage figures: the pipeline's plots rendered to SVG, offline, for the README and reviews.

Reads:  dvclive/plots/metrics/ (training loss, dev accuracy), plots/confusion/,
        metrics/evaluate.json, metrics/benchmark.json, data/prepared/classes.json
Writes: plots/images/{training,tradeoff,confusion,speed}.svg (image plots in dvc.yaml, so
        `dvc plots diff` puts old and new side by side)
Params: none

A missing or corrupt input file stops the stage with one line naming it (exit 2).
"""

import json

from bert_int8 import atomic, paths
from bert_int8.errors import PipelineError, run_stage
from bert_int8.figures import render_all
from bert_int8.metrics_files import read_metrics


def read_classes(path=paths.CLASSES):
    """The class names prepare_data wrote (a JSON list of strings); one line naming the file if not."""
    try:
        classes = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the stage that writes it: dvc repro)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise PipelineError(f"{path}: cannot read it ({err})") from None
    except json.JSONDecodeError as err:
        raise PipelineError(f"{path}: not valid JSON (line {err.lineno}: {err.msg})") from None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise PipelineError(f"{path}: expected a JSON list of class names")
    return classes


def main():
    evaluation = read_metrics(paths.METRICS / "evaluate.json")
    benchmark = read_metrics(paths.METRICS / "benchmark.json")
    classes = read_classes()
    with atomic.output_dir(paths.PLOTS / "images") as out:
        written = render_all(evaluation, benchmark, classes, paths.DVCLIVE_DIR, paths.PLOTS / "confusion", out)
    print(f"rendered {', '.join(p.name for p in written)} to {paths.PLOTS / 'images'}")


if __name__ == "__main__":
    run_stage(main)
