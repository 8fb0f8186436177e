"""The types the metrics files are made of, read in one place: a figure with its interval, and a
call (one winner, or a tie naming the tied models). The JSON keeps its flat form, which reads
well in `dvc metrics diff`: a figure is `<key>`, `<key>_lo`, `<key>_hi` in its row, and a call
is a model's name or "tie: a, b". Plain Python: the lean service reads them.
"""

from dataclasses import dataclass

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
