"""The types the metrics files are made of, read in one place: a figure with its interval, a call
(one winner, or a tie naming the tied models), and the evaluate stage's report. The JSON keeps
a flat form inside each section, which reads well in `dvc metrics diff`: a figure is `<key>`,
`<key>_lo`, `<key>_hi` in its row, and a call is a model's name or "tie: a, b". Plain Python:
the lean service reads them.
"""

from dataclasses import dataclass, field

from bert_int8.core.errors import PipelineError
from bert_int8.core.metrics_files import read_metrics

TIE = "tie: "


@dataclass(frozen=True)
class Figure:
    value: float
    lo: float
    hi: float

    @classmethod
    def read(cls, row, key):
        """`row[key]` with its interval; without `_lo`/`_hi` (an exact figure, or an older metrics
        file) the point itself at both ends."""
        value = row[key]
        return cls(value, row.get(f"{key}_lo", value), row.get(f"{key}_hi", value))

    def fields(self, key):
        """The row's keys for it."""
        return {key: self.value, f"{key}_lo": self.lo, f"{key}_hi": self.hi}


@dataclass(frozen=True)
class Call:
    winner: str | None  # the model whose interval clears every other's, else None
    tied: tuple = ()  # best first, where no model clears the others

    @property
    def models(self):
        """The models it names: [winner], or the tied ones."""
        return [self.winner] if self.winner else list(self.tied)

    def text(self):
        """As metrics and the docs say it: the winner's name, "tie: a, b", or None (no models)."""
        if self.winner:
            return self.winner
        return TIE + ", ".join(self.tied) if self.tied else None

    @classmethod
    def parse(cls, text):
        """The call `text()` wrote."""
        if not text:
            return cls(None)
        if text.startswith(TIE.strip()):
            return cls(None, tuple(n.strip() for n in text.removeprefix(TIE.strip()).split(",")))
        return cls(text.strip())


VERSUS = "_vs_"


@dataclass
class Evaluation:
    """metrics/evaluate.json: each model's metrics on test (`models`: name -> accuracy with its
    interval, macro and per-class P/R/F1), each comparison of a model with a reference model
    (`comparisons`: "<name>_vs_<reference>" -> agreement, drops with intervals, test, verdict),
    and the run's facts. The evaluate stage builds it; figures, the benchmark, `serve auto` and
    the docs read it."""

    models: dict
    comparisons: dict
    test_examples: int
    max_f1_loss: float | None = None  # evaluate.max_f1_loss, for `auto` (None in older files)
    environment: dict = field(default_factory=dict)

    @staticmethod
    def key(name, reference):
        return f"{name}{VERSUS}{reference}"

    def versus(self, name, reference):
        """The comparison of `name` with `reference`, or None where there is none."""
        return self.comparisons.get(self.key(name, reference))

    def to_json(self):
        return {
            "test_examples": self.test_examples,
            "max_f1_loss": self.max_f1_loss,
            "models": self.models,
            "comparisons": self.comparisons,
            "environment": self.environment,
        }

    @classmethod
    def from_json(cls, data, source="metrics/evaluate.json"):
        """The report `to_json` wrote, or a file of the older flat form (models and
        "<name>_vs_<reference>" keys side by side, as past experiments hold it); a PipelineError
        naming `source` and the key where neither fits."""
        if "models" not in data and "comparisons" not in data:  # the flat form
            rows = {k: v for k, v in data.items() if isinstance(v, dict) and k != "environment"}
            data = {
                **{k: v for k, v in data.items() if k not in rows},
                "models": {k: v for k, v in rows.items() if VERSUS not in k},
                "comparisons": {k: v for k, v in rows.items() if VERSUS in k},
            }
        for key, kind in (("models", dict), ("comparisons", dict), ("test_examples", int)):
            if not isinstance(data.get(key), kind):
                raise PipelineError(f"{source}: no {key} (or not a JSON {kind.__name__}); rerun evaluate (dvc repro)")
        if not data["models"]:
            raise PipelineError(f"{source}: no models (an empty section); rerun evaluate (dvc repro)")
        return cls(
            data["models"],
            data["comparisons"],
            data["test_examples"],
            data.get("max_f1_loss"),
            data.get("environment", {}),
        )

    @classmethod
    def read(cls, path, missing="run the stage that writes it: dvc repro"):
        """The report in `path` (metrics_files.read_metrics: one line naming a missing or corrupt file)."""
        return cls.from_json(read_metrics(path, missing), path)
