"""Who is fastest, called only when the figures say so.

Every timed figure carries a 95% interval (`<key>_lo`, `<key>_hi` beside `<key>`). A model wins
only when its interval clears every other model's; otherwise the models whose intervals reach
the best one's are tied, and the call says so. Plain Python (no numpy): the service reads it.
"""

from bert_int8.core.reports import Call, Figure


def call(figures, names, key, lowest):
    """(winner, tied) among `names` on `figures[name][key]`: winner is a name when its interval
    clears the runner-up's, else None and `tied` lists (best first) every model whose interval
    overlaps the best one's. Without intervals (`_lo`/`_hi` missing) the point values decide."""
    names = [n for n in names if key in figures.get(n, {})]
    if not names:
        return None, []
    sign = 1 if lowest else -1
    ordered = sorted(names, key=lambda n: sign * figures[n][key])
    best = Figure.read(figures[ordered[0]], key)
    tied = [ordered[0]]
    for name in ordered[1:]:
        other = Figure.read(figures[name], key)
        # lower is better: tied when the other's low end reaches below the best's high end
        if (lowest and other.lo <= best.hi) or (not lowest and other.hi >= best.lo):
            tied.append(name)
    return (ordered[0], [ordered[0]]) if len(tied) == 1 else (None, tied)


def label(winner, tied):
    """How a call reads in metrics and the docs: the winner's name, or "tie: a, b" (reports.Call)."""
    return (Call(winner) if winner else Call(None, tuple(tied))).text()


def named(label_text):
    """The models a label names: [winner] or the tied ones."""
    return Call.parse(label_text).models
