"""Who is fastest, called only when the figures say so.

Every timed figure carries a 95% interval (`<key>_lo`, `<key>_hi` beside `<key>`). A model wins
only when its interval clears every other model's; otherwise the models whose intervals reach
the best one's are tied, and the call says so. Plain Python (no numpy): the service reads it.
"""


def call(figures, names, key, lowest):
    """(winner, tied) among `names` on `figures[name][key]`: winner is a name when its interval
    clears the runner-up's, else None and `tied` lists (best first) every model whose interval
    overlaps the best one's. Without intervals (`_lo`/`_hi` missing) the point values decide."""
    names = [n for n in names if key in figures.get(n, {})]
    if not names:
        return None, []
    sign = 1 if lowest else -1
    ordered = sorted(names, key=lambda n: sign * figures[n][key])
    best = figures[ordered[0]]
    lo, hi = best.get(f"{key}_lo", best[key]), best.get(f"{key}_hi", best[key])
    tied = [ordered[0]]
    for name in ordered[1:]:
        f = figures[name]
        other_lo, other_hi = f.get(f"{key}_lo", f[key]), f.get(f"{key}_hi", f[key])
        # lower is better: tied when the other's low end reaches below the best's high end
        if (lowest and other_lo <= hi) or (not lowest and other_hi >= lo):
            tied.append(name)
    return (ordered[0], [ordered[0]]) if len(tied) == 1 else (None, tied)


def label(winner, tied):
    """How a call reads in metrics and the README: the winner's name, or "tie: a, b"."""
    if winner:
        return winner
    return "tie: " + ", ".join(tied) if tied else None


def named(label_text):
    """The models a label names: [winner] or the tied ones."""
    if not label_text:
        return []
    return [n.strip() for n in label_text.removeprefix("tie:").split(",")]
