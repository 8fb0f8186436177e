"""Why `serve auto` chose a model, in words: the winner's figure and interval, and how a tie was
broken (serve/choose.py decides; this says it)."""

from bert_int8.core.reports import Figure

# figure -> (its unit, how it was measured), for the reason
FIGURES = {
    "dynamic_titles_per_s": ("real titles/s", "on the test titles batched by length"),
    "title_latency_ms_p50": ("ms p50", "per test title, one per call"),
}


def close(a, b, key):
    """Whether each of two models' medians lies inside the other's interval."""
    a, b = Figure.read(a, key), Figure.read(b, key)
    return a.lo <= b.value <= a.hi and b.lo <= a.value <= b.hi


def _number(key, value, extra_digits=0):
    """A figure as the reason prints it: a rate to the unit, ms to 2 decimals (plus extra_digits)."""
    digits = (0 if key.endswith("_per_s") else 2) + extra_digits
    return f"{value:,.{digits}f}"


def _figure(figures, key):
    value, lo, hi = figures[key], figures.get(f"{key}_lo"), figures.get(f"{key}_hi")
    unit = " " + FIGURES[key][0]
    interval = f" [{_number(key, lo)}, {_number(key, hi)}]" if lo is not None and hi is not None else ""
    return _number(key, value) + unit + interval


def _apart(trained, fastest, name, key):
    """Why `name`, tied with `fastest` by the call, is not close to it: whose median lies outside
    whose interval."""
    f = Figure.read(trained[name], key)
    inner, outer = (fastest, name) if not f.lo <= trained[fastest][key] <= f.hi else (name, fastest)
    f = Figure.read(trained[outer], key)
    lo, hi = f.lo, f.hi
    # one more digit than the figures: a median just outside a bound must not print equal to it
    median, lo, hi = (_number(key, v, 1) for v in (trained[inner][key], lo, hi))
    return f"{inner}'s median {median} is outside {outer}'s interval [{lo}, {hi}]"


def reason(chosen, tied, close, n_candidates, trained, key):
    text = f"{chosen}: {_figure(trained[chosen], key)} {FIGURES[key][1]}"
    if trained[chosen].get("disturbed"):
        text += " (timed while other processes took CPU)"
    others = [n for n in tied if n != chosen]
    if not others:
        return text + (", ahead of every other candidate's interval" if n_candidates > 1 else ", the only candidate")
    near, far = [n for n in close if n != chosen], [n for n in others if n not in close]
    apart = "; ".join(_apart(trained, tied[0], n, key) for n in far)
    one = len(far) == 1
    if not near:  # then chosen is the fastest
        return f"{text}, tie with {', '.join(far)}; the best median, {'the other' if one else 'the others'} not close: {apart}"
    size = trained[chosen].get("file_bytes")
    sizes = {n: trained[n].get("file_bytes") for n in near}
    if size is None or None in sizes.values():
        what = ", no sizes recorded: the better point figure"
    elif all(size < other for other in sizes.values()):
        what = f" broken by size ({size / 2**20:.1f} MiB against {min(sizes.values()) / 2**20:.1f})"
    else:
        what = f", the same size as {', '.join(n for n in near if sizes[n] == size)}: the better point figure"
    text = f"{text}, tie with {', '.join(near)}{what}"
    if far:
        whose = "its" if chosen == tied[0] else f"{tied[0]}'s"
        text += (
            f"; {', '.join(far)} overlap{'s' if one else ''} {whose} interval but {'is' if one else 'are'} "
            f"not close: {apart}"
        )
    return text
