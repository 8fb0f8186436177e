"""`bert-int8 serve auto` / `predict auto`: the model of the committed run to use, and why.

From `metrics/` (relative to the repository root, where the pipeline writes them):
- the candidates are the models the benchmark timed (`benchmark.json` `trained`), the
  teacher's and the student's, whose test macro-F1 against the teacher's FP32 loses at most
  `max_f1_loss` at 95% (`evaluate.json` `<name>_vs_fp32.loses_at_most`; the bound is
  `evaluate.json` `max_f1_loss`, evaluate.max_f1_loss, unless the caller gives one; it is not
  quantize.max_f1_drop, the dev budget of an int8 model against its own FP32). The teacher's
  FP32 is the reference and always a candidate;
- by throughput (the default, for a service that batches across requests): the best rate on
  the real test titles batched by length (`real_titles.<model>.dynamic_titles_per_s`) among the
  models whose answers do not depend on their batch-mates (dynamic int8 scales activations per
  batch, so it is left out); by latency: the best p50 of one real title per call, tokenizing
  included (`real_titles.<model>.title_latency_ms_p50`), among all. Titles of every length,
  not the fixed-shape figures: a runtime that pays for each new input shape pays it here too;
- the winner follows the benchmark's 95% intervals (`ranking.call`): a tie goes to the smaller
  artifact (`file_bytes`), then to the better point figure, among the tied models close to the
  fastest: each one's median inside the other's interval. Intervals overlap when one slow
  process widens one of them, and a model with half the fastest one's median is then "tied"
  with it; serving it for its size would give up speed the figures do show. (`winners` keeps
  calling every overlap a tie: that is the benchmark's statement, this is a choice.) With
  min..max intervals a model whose one fast process reaches the fastest's median can still be
  close: neither median is then implausible for the other model;
- refused, in one line naming the file: metrics missing or unreadable, figures from another CPU
  or ISA, or vendor, family, model and stepping, than this machine's (unless
  `allow_other_machine`), a chosen directory whose files differ from those the benchmark
  measured (`benchmark.json` `artifacts`, sha256), or a chosen int8 model whose weights use all
  8 bits on a CPU without VNNI, where their sums saturate (unless `allow_full_range_int8`).

Plain Python: the lean service imports it (no torch, no transformers).
"""

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from bert_int8.backends import get, independent_of_batch, split_name
from bert_int8.backends.model_dir import ModelDir
from bert_int8.core import machine, metrics_files, paths
from bert_int8.core.digest import model_sha256
from bert_int8.core.errors import PipelineError
from bert_int8.core.reports import Figure
from bert_int8.model import roles
from bert_int8.stats import ranking

FILES = ("benchmark.json", "evaluate.json")
# --prefer: (figure of benchmark.json's real_titles, lower is better). The workload a service
# meets: titles of every length, not one fixed shape; batched by length when requests share a
# pass, one per call when they come one at a time.
PREFER = {"throughput": ("dynamic_titles_per_s", False), "latency": ("title_latency_ms_p50", True)}
# figure -> (its unit, how it was measured), for the reason
FIGURES = {
    "dynamic_titles_per_s": ("real titles/s", "on the test titles batched by length"),
    "title_latency_ms_p50": ("ms p50", "per test title, one per call"),
}


@dataclass(frozen=True)
class Choice:
    model: ModelDir
    by: str
    reason: str
    candidates: list = field(default_factory=list)  # best first
    skipped: dict = field(default_factory=dict)  # name -> why it was left out

    def health(self):
        """What /health states under `chosen`."""
        return {"by": self.by, "reason": self.reason, "candidates": self.candidates, "skipped": self.skipped}


def this_machine():
    """The CPU's name, its kernel-picking ISA flags and its vendor, family, model and stepping in
    words, as the benchmark records them (machine.environment)."""
    env = machine.environment()
    return env["cpu"], env["isa"], machine.cpu_id_words(env["cpu_id"])


def _machine_words(m):
    return f"{m[0]} ({m[2]}; {m[1]})" if m[2] else f"{m[0]} ({m[1]})"


def torch_installed():
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def read_metrics(path):
    return metrics_files.read_metrics(
        path,
        missing="`auto` reads the committed run's metrics from the repository root (run it there, after "
        "`dvc repro`), or name a model directory",
    )


def _section(data, path, *keys):
    """data[k1][k2]...; a PipelineError naming the file and the key if it is not there."""
    for i, key in enumerate(keys):
        if not isinstance(data, dict) or key not in data:
            raise PipelineError(f"{path}: no {'.'.join(keys[: i + 1])}; rerun the pipeline (dvc repro)")
        data = data[key]
    return data


def choose(prefer="throughput", allow_other_machine=False, root=".", max_f1_loss=None, allow_full_range_int8=False):
    """The Choice for `prefer` (throughput or latency) from `root`/metrics; PipelineError to refuse.
    `max_f1_loss`: what a candidate may lose in test macro-F1 against the teacher's FP32 at 95%
    (None: evaluate.json's max_f1_loss). `allow_full_range_int8`: serve a chosen int8 model whose
    weights saturate on this CPU (ModelDir.weight_range_warning) instead of refusing it."""
    if prefer not in PREFER:
        raise PipelineError(f"--prefer: {prefer!r}; one of {', '.join(PREFER)}")
    metrics = Path(root) / paths.METRICS
    bench_file, eval_file = (metrics / f for f in FILES)
    bench, evaluation = (read_metrics(f) for f in (bench_file, eval_file))
    trained = _section(bench, bench_file, "trained")
    real = _section(bench, bench_file, "real_titles")
    artifacts = _section(bench, bench_file, "artifacts")
    cpu_id = bench["setup"].get("cpu_id") or {}  # {} in metrics from before it was recorded
    if not isinstance(cpu_id, dict):
        raise PipelineError(f"{bench_file}: setup.cpu_id is not a map of vendor, family, model and stepping")
    measured = (
        _section(bench, bench_file, "setup", "cpu"),
        _section(bench, bench_file, "setup", "isa"),
        machine.cpu_id_words(cpu_id),
    )
    where = "--max-f1-loss"
    if max_f1_loss is None:
        max_f1_loss, where = _section(evaluation, eval_file, "max_f1_loss"), f"{eval_file}: max_f1_loss"
    if isinstance(max_f1_loss, bool) or not isinstance(max_f1_loss, (int, float)) or not 0 <= max_f1_loss <= 1:
        raise PipelineError(f"{where}: {max_f1_loss!r}; a fraction of macro-F1 between 0 and 1")
    if not all(isinstance(d, dict) for d in (trained, real, artifacts)):
        raise PipelineError(f"{bench_file}: trained, real_titles and artifacts are not maps of model names")
    # each model's real-title figures, with its size from the fixed-shape table (the tie-break)
    table = {
        n: {**(real.get(n) or {}), "file_bytes": figures.get("file_bytes") if isinstance(figures, dict) else None}
        for n, figures in trained.items()
    }

    here = this_machine()
    # metrics written before the vendor, family, model and stepping were recorded: name and ISA
    other_machine = measured != here if measured[2] else measured[:2] != here[:2]
    if other_machine and not allow_other_machine:
        raise PipelineError(
            f"{bench_file}: measured on {_machine_words(measured)}, but this machine is {_machine_words(here)}; "
            "another CPU can have another winner: rerun the benchmark here, or pass --allow-other-machine"
        )

    key, lowest = PREFER[prefer]
    if not any(isinstance(r, dict) and key in r for r in real.values()):
        raise PipelineError(f"{bench_file}: no real_titles.<model>.{key}; rerun the benchmark (dvc repro)")
    candidates, skipped = [], {}
    for name in sorted(table):
        why = _left_out(name, table[name], key, prefer, max_f1_loss, evaluation)
        if why:
            skipped[name] = why
        else:
            candidates.append(name)
    winner, tied = ranking.call(table, candidates, key, lowest)
    if not tied:
        reasons = "; ".join(f"{n}: {why}" for n, why in skipped.items()) or "no models timed"
        raise PipelineError(f"{bench_file}: no model to choose by {prefer} ({reasons})")
    # tied is best first; the fastest is close to itself even if its median sat outside its interval
    close = tied[:1] + [n for n in tied[1:] if _close(table[tied[0]], table[n], key)]
    if winner:
        chosen = winner
    else:  # the smaller artifact, then the better point figure
        size = {n: table[n]["file_bytes"] for n in close}
        chosen = min(close, key=lambda n: (float("inf") if size[n] is None else size[n], close.index(n)))
    candidates.sort(key=lambda n: table[n][key] * (1 if lowest else -1))

    reason = _reason(chosen, tied, close, len(candidates), table, key)
    versus = evaluation.get(f"{chosen}_vs_{roles.fp32_name(roles.TEACHER)}")
    if isinstance(versus, dict) and "loses_at_most" in versus:
        reason += (
            f"; loses at most {versus['loses_at_most'] * 100:.2f} point of test macro-F1 against the teacher's FP32 "
            f"at 95% (max_f1_loss {max_f1_loss * 100:g} {'point' if max_f1_loss * 100 == 1 else 'points'})"
        )
    if other_machine:
        reason += f"; measured on {_machine_words(measured)}, not this machine (--allow-other-machine)"
    model = _measured_dir(chosen, artifacts, bench_file, Path(root))
    if model.weight_range_warning():
        if not allow_full_range_int8:
            raise PipelineError(
                f"{model.path}: {chosen}'s int8 weights use all 8 bits, as built on a CPU with VNNI; this CPU has "
                "none, so their sums can saturate: rebuild it here with `dvc repro -f -s quantize`, or pass "
                "--allow-full-range-int8"
            )
        reason += "; its int8 weights use all 8 bits and can saturate on this CPU (--allow-full-range-int8)"
    return Choice(model, prefer, reason, candidates, skipped)


def _left_out(name, figures, key, prefer, max_f1_loss, evaluation):
    """Why a timed model is not a candidate, or None."""
    if not isinstance(figures, dict) or key not in figures:
        return f"no {key} figure"
    if name != roles.fp32_name(roles.TEACHER):
        versus = evaluation.get(f"{name}_vs_{roles.fp32_name(roles.TEACHER)}")
        loses = versus.get("loses_at_most") if isinstance(versus, dict) else None
        if loses is None:
            return "not evaluated on test (no loses_at_most against the teacher's FP32 in evaluate.json)"
        if loses > max_f1_loss:
            return f"test macro-F1 loses up to {loses:.4f} against the teacher's FP32 at 95%, over max_f1_loss {max_f1_loss}"
    backend, precision, method = split_name(roles.split(name)[1])
    if precision == "bf16" and not machine.native_bf16():
        return "a BF16 model, and this CPU has no native BF16 (avx512_bf16 or amx_bf16)"
    if prefer == "throughput" and not independent_of_batch(backend, precision, method):
        return "its answers depend on batch-mates (dynamic int8): it cannot share batches across requests"
    if not get(backend).numpy_io and not torch_installed():
        return f"a {get(backend).label} model, and torch is not installed (pip install 'bert-int8[pipeline]')"
    return None


def _close(a, b, key):
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


def _reason(chosen, tied, close, n_candidates, trained, key):
    reason = f"{chosen}: {_figure(trained[chosen], key)} {FIGURES[key][1]}"
    if trained[chosen].get("disturbed"):
        reason += " (timed while other processes took CPU)"
    others = [n for n in tied if n != chosen]
    if not others:
        return reason + (", ahead of every other candidate's interval" if n_candidates > 1 else ", the only candidate")
    near, far = [n for n in close if n != chosen], [n for n in others if n not in close]
    apart = "; ".join(_apart(trained, tied[0], n, key) for n in far)
    one = len(far) == 1
    if not near:  # then chosen is the fastest
        return f"{reason}, tie with {', '.join(far)}; the best median, {'the other' if one else 'the others'} not close: {apart}"
    size = trained[chosen].get("file_bytes")
    sizes = {n: trained[n].get("file_bytes") for n in near}
    if size is None or None in sizes.values():
        what = ", no sizes recorded: the better point figure"
    elif all(size < other for other in sizes.values()):
        what = f" broken by size ({size / 2**20:.1f} MiB against {min(sizes.values()) / 2**20:.1f})"
    else:
        what = f", the same size as {', '.join(n for n in near if sizes[n] == size)}: the better point figure"
    reason = f"{reason}, tie with {', '.join(near)}{what}"
    if far:
        whose = "its" if chosen == tied[0] else f"{tied[0]}'s"
        reason += (
            f"; {', '.join(far)} overlap{'s' if one else ''} {whose} interval but {'is' if one else 'are'} "
            f"not close: {apart}"
        )
    return reason


def _measured_dir(name, artifacts, bench_file, root):
    """The ModelDir the benchmark measured as `name`, refused if its files changed since."""
    art = artifacts.get(name)
    if not isinstance(art, dict) or "path" not in art or "sha256" not in art:
        raise PipelineError(f"{bench_file}: no artifacts.{name} (path and sha256); rerun the benchmark")
    path = root / art["path"]
    found = ModelDir.open(path, roles.split(name)[0])
    if name.endswith("bf16") and found.precision == "fp32":
        try:
            found = found.as_bf16()  # a BF16 model is its FP32 directory run in BF16
        except ValueError as err:
            raise PipelineError(str(err)) from None
    if found.name != name:
        raise PipelineError(f"{path}: holds {found.name}, but {bench_file} measured {name} there")
    try:
        digest = model_sha256(found)
    except OSError as err:
        raise PipelineError(f"{path}: cannot read the model's files: {err}") from None
    if digest != art["sha256"]:
        raise PipelineError(
            f"{path}: its files differ from the {name} that {bench_file} measured (sha256 {digest[:12]}, "
            f"measured {str(art['sha256'])[:12]}); rerun the benchmark (dvc repro), or name a directory instead of auto"
        )
    return found
