"""How far back-to-back benchmark runs agree, with and without the canary (bert_int8.measure.canary).

    cp metrics/benchmark.json /tmp/run1.json        # after a dvc repro
    dvc repro -f -s benchmark && cp metrics/benchmark.json /tmp/run2.json
    dvc repro -f -s benchmark && cp metrics/benchmark.json /tmp/run3.json
    python scripts/run_spread.py /tmp/run1.json /tmp/run2.json /tmp/run3.json

Prints, per headline ratio: each run's figure with its 95% interval, whether each lies inside
every other run's interval, and the spread, the largest |ratio - median of the runs| / median;
the same spread from the passes as first timed (what the runs would have said without the
canary); whether any winner of one run contradicts another's (names a different model, where
neither call is a tie that holds the other's winner); and how many passes the canary retimed
and marked in each run. Reads the files only; writes nothing.
"""

import json
import statistics
import sys
from pathlib import Path

from bert_int8.stats.ranking import named

# headline section -> where its as-first-timed twin lives under setup.canary
SECTIONS = {
    ("headline", "trained"): ("trained", "headline"),
    ("headline", "student"): ("trained", "student"),
    ("headline", "reference_shape"): ("reference_shape", "headline"),
    ("headline", "reference_shape_student"): ("reference_shape", "student"),
}


def ratios(section):
    """{ratio key: (value, lo, hi)} of a headline section (keys with a _lo and _hi beside them)."""
    return {
        k: (v, section[f"{k}_lo"], section[f"{k}_hi"])
        for k, v in section.items()
        if isinstance(v, (int, float)) and f"{k}_lo" in section and f"{k}_hi" in section
    }


def spread(values):
    mid = statistics.median(values)
    return max(abs(v - mid) for v in values) / mid


def contradictions(runs):
    """Calls on which two runs name different winners, neither tie holding the other's winner."""
    out = []
    for group in ("trained", "reference_shape"):
        keys = set.intersection(*(set(r["winners"].get(group, {})) for r in runs))
        for key in sorted(keys):
            calls = [named(r["winners"][group][key]) for r in runs]
            for i, a in enumerate(calls):
                for b in calls[i + 1 :]:
                    if len(a) == 1 and len(b) == 1 and a != b:
                        out.append(f"{group}.{key}: {a[0]} against {b[0]}")
                    elif not set(a) & set(b):
                        out.append(f"{group}.{key}: {', '.join(a)} against {', '.join(b)}")
    return out


def read_run(path):
    """A benchmark.json; one line naming the file if it is missing, not JSON, or not a benchmark's."""
    try:
        run = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        sys.exit(f"error: {path}: cannot read it as JSON ({err})")
    if not isinstance(run, dict) or not all(k in run for k in ("setup", "headline", "winners")):
        sys.exit(f"error: {path}: not a metrics/benchmark.json (setup, headline and winners missing)")
    return run


def main(argv):
    if len(argv) < 2:
        sys.exit("usage: run_spread.py RUN1.json RUN2.json [RUN3.json ...]")
    runs = [read_run(p) for p in argv]
    cpus = {json.dumps(r["setup"].get("cpu_id"), sort_keys=True) for r in runs}
    if len(cpus) > 1:
        sys.exit(f"error: the runs come from different CPUs ({'; '.join(sorted(cpus))}): their spread means nothing")
    print(f"{len(runs)} runs on {runs[0]['setup']['cpu']} {cpus.pop()}")
    print("| ratio | runs: value [95% interval] | inside the others' intervals | spread | spread without canary |")
    print("| --- | --- | --- | --- | --- |")
    worst = {"with": 0.0, "without": 0.0}
    for (top, name), (group, twin) in SECTIONS.items():
        sections = [r[top].get(name) or {} for r in runs]
        firsts = [r["setup"].get("canary", {}).get(group, {}).get("without", {}).get(twin) or {} for r in runs]
        for key in sorted(set.intersection(*(set(ratios(s)) for s in sections))):
            got = [ratios(s)[key] for s in sections]
            inside = all(
                got[j][1] <= got[i][0] <= got[j][2] for i in range(len(got)) for j in range(len(got)) if i != j
            )
            s = spread([g[0] for g in got])
            first = [ratios(f).get(key) for f in firsts]
            s_first = spread([f[0] for f in first]) if all(first) else None
            worst["with"] = max(worst["with"], s)
            if s_first is not None:
                worst["without"] = max(worst["without"], s_first)
            cells = "; ".join(f"{v:.3f} [{lo:.3f}, {hi:.3f}]" for v, lo, hi in got)
            without = f"{s_first:.1%}" if s_first is not None else "n/a"
            print(f"| {name}.{key} | {cells} | {'yes' if inside else 'NO'} | {s:.1%} | {without} |")
    print(f"\nlargest spread: {worst['with']:.1%} with the canary, {worst['without']:.1%} as first timed")
    bad = contradictions(runs)
    print("winners contradicting: " + ("; ".join(bad) if bad else "none"))
    for i, r in enumerate(runs, 1):
        counts = r["setup"].get("canary", {})
        for group, c in counts.items():
            models = c.get("models", {})
            checked = sum(m["checked"] for m in models.values())
            retimed = sum(m["retimed"] for m in models.values())
            marked = sum(m["marked"] for m in models.values())
            print(f"run {i} {group}: {checked} passes checked, {retimed} retimed, {marked} marked")


if __name__ == "__main__":
    main(sys.argv[1:])
