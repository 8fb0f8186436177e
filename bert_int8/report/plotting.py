"""What every figure shares: matplotlib set up for SVGs that carry no date, reading the plots'
CSV/TSV files with one line naming a bad one, and a figure's interval as error bars."""

import csv
from pathlib import Path

from bert_int8.core.errors import PipelineError
from bert_int8.core.reports import Figure


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "bert-int8", "font.size": 9})
    return plt


def save(fig, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="svg", bbox_inches="tight", metadata={"Date": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def read_rows(path, delimiter=","):
    """The rows of a CSV or TSV file with a header; one line naming the file if it is missing
    or unreadable (the stage's promise)."""
    try:
        with open(path, encoding="utf-8") as f:
            return list(csv.DictReader(f, delimiter=delimiter))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found (run the stage that writes it: dvc repro)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise PipelineError(f"{path}: cannot read it ({err})") from None


def interval(row, key):
    """(value, lo, hi) of `row[key]` (reports.Figure)."""
    f = Figure.read(row, key)
    return f.value, f.lo, f.hi


def error_lengths(values):
    """matplotlib's [[below], [above]] error lengths from (value, lo, hi) triples (never negative:
    an interval rounded to 4 digits can miss its own point by a hair)."""
    return [[max(0.0, v - lo) for v, lo, _ in values], [max(0.0, hi - v) for v, _, hi in values]]


def is_int8(name):
    """onnx_int8, onnx_int8_static, student_int8, ...: a name's words are its role, runtime
    prefix, precision and method (backends.model_name)."""
    return "int8" in name.split("_")


def model_color(name):
    """Red for int8 models, green for BF16, blue for the rest."""
    return "tab:red" if is_int8(name) else "tab:green" if "bf16" in name.split("_") else "tab:blue"
