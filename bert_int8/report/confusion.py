"""confusion.svg: the teacher's FP32 confusion matrix beside each int8 model's, with counts."""

from pathlib import Path

import numpy as np

from bert_int8.core.errors import PipelineError
from bert_int8.model import roles
from bert_int8.report.plotting import is_int8, pyplot, read_rows, save

FP32 = roles.fp32_name(roles.TEACHER)  # the matrix each int8 model's stands beside


def confusion_counts(csv_path, classes):
    index = {c: i for i, c in enumerate(classes)}
    m = np.zeros((len(classes), len(classes)), dtype=int)
    for n, row in enumerate(read_rows(csv_path), start=2):
        try:
            m[index[row["actual"]], index[row["predicted"]]] += 1
        except KeyError:
            raise PipelineError(
                f"{csv_path}: line {n}: no actual/predicted column, or a label not in {classes}"
            ) from None
    return m


def confusion(confusion_dir, classes, out):
    plt = pyplot()
    names = [FP32] + sorted(p.stem for p in Path(confusion_dir).glob("*.csv") if is_int8(p.stem))
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 4.2))
    for ax, name in zip(np.atleast_1d(axes), names):
        m = confusion_counts(Path(confusion_dir) / f"{name}.csv", classes)
        ax.imshow(m, cmap="Blues")
        for i in range(len(classes)):
            for j in range(len(classes)):
                ax.text(
                    j,
                    i,
                    str(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if m[i, j] > m.max() / 2 else "black",
                )
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
        ax.set(title=name, xlabel="predicted", ylabel="actual")
    return save(fig, out)
