"""`bert-int8 serve auto` / `predict auto`: the model of the committed run to use, and why.

From `metrics/` (relative to the repository root, where the pipeline writes them):
- the candidates are the models the benchmark timed (`benchmark.json` `trained`), the
  teacher's and the student's, whose test macro-F1 against the teacher's FP32 loses at most
  `max_f1_loss` at 95% (`evaluate.json` `comparisons.<name>_vs_fp32.loses_at_most`; the bound is
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
from bert_int8.core.reports import Evaluation
from bert_int8.model import roles
from bert_int8.serve import choose_reason
from bert_int8.stats import ranking

FILES = ("benchmark.json", "evaluate.json")
# --prefer: (figure of benchmark.json's real_titles, lower is better). The workload a service
# meets: titles of every length, not one fixed shape; batched by length when requests share a
# pass, one per call when they come one at a time.
PREFER = {"throughput": ("dynamic_titles_per_s", False), "latency": ("title_latency_ms_p50", True)}


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
    run = Run.read(Path(root) / paths.METRICS)
    max_f1_loss = run.bound(max_f1_loss)
    other_machine = run.measured_elsewhere(allow_other_machine)
    key, lowest = PREFER[prefer]
    if not any(isinstance(r, dict) and key in r for r in run.real.values()):
        raise PipelineError(f"{run.bench_file}: no real_titles.<model>.{key}; rerun the benchmark (dvc repro)")
    table = run.table()
    candidates, skipped = [], {}
    for name in sorted(table):
        why = _left_out(name, table[name], key, prefer, max_f1_loss, run.evaluation)
        if why:
            skipped[name] = why
        else:
            candidates.append(name)
    winner, tied = ranking.call(table, candidates, key, lowest)
    if not tied:
        reasons = "; ".join(f"{n}: {why}" for n, why in skipped.items()) or "no models timed"
        raise PipelineError(f"{run.bench_file}: no model to choose by {prefer} ({reasons})")
    # tied is best first; the fastest is close to itself even if its median sat outside its interval
    close = tied[:1] + [n for n in tied[1:] if choose_reason.close(table[tied[0]], table[n], key)]
    if winner:
        chosen = winner
    else:  # the smaller artifact, then the better point figure
        size = {n: table[n]["file_bytes"] for n in close}
        chosen = min(close, key=lambda n: (float("inf") if size[n] is None else size[n], close.index(n)))
    candidates.sort(key=lambda n: table[n][key] * (1 if lowest else -1))

    reason = choose_reason.reason(chosen, tied, close, len(candidates), table, key)
    versus = run.evaluation.versus(chosen, roles.fp32_name(roles.TEACHER))
    if isinstance(versus, dict) and "loses_at_most" in versus:
        reason += (
            f"; loses at most {versus['loses_at_most'] * 100:.2f} point of test macro-F1 against the teacher's FP32 "
            f"at 95% (max_f1_loss {max_f1_loss * 100:g} {'point' if max_f1_loss * 100 == 1 else 'points'})"
        )
    if other_machine:
        reason += f"; measured on {_machine_words(run.measured)}, not this machine (--allow-other-machine)"
    model = _measured_dir(chosen, run.artifacts, run.bench_file, Path(root))
    if model.weight_range_warning():
        if not allow_full_range_int8:
            raise PipelineError(
                f"{model.path}: {chosen}'s int8 weights use all 8 bits, as built on a CPU with VNNI; this CPU has "
                "none, so their sums can saturate: rebuild it here with `dvc repro -f -s quantize`, or pass "
                "--allow-full-range-int8"
            )
        reason += "; its int8 weights use all 8 bits and can saturate on this CPU (--allow-full-range-int8)"
    return Choice(model, prefer, reason, candidates, skipped)


@dataclass(frozen=True)
class Run:
    """What `auto` reads of the committed run: benchmark.json's sections and the Evaluation,
    each checked, with one line naming the file and the key where one is missing."""

    bench_file: Path
    eval_file: Path
    evaluation: Evaluation
    trained: dict
    real: dict
    artifacts: dict
    measured: tuple  # (cpu, isa, cpu id in words) of the machine that measured

    @classmethod
    def read(cls, metrics):
        bench_file, eval_file = (metrics / f for f in FILES)
        bench = read_metrics(bench_file)
        evaluation = Evaluation.from_json(read_metrics(eval_file), eval_file)
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
        run = cls(bench_file, eval_file, evaluation, trained, real, artifacts, measured)
        if not all(isinstance(d, dict) for d in (trained, real, artifacts)):
            raise PipelineError(f"{bench_file}: trained, real_titles and artifacts are not maps of model names")
        return run

    def bound(self, max_f1_loss):
        """The macro-F1 loss a candidate may have: the caller's, else evaluate.json's; checked."""
        where = "--max-f1-loss"
        if max_f1_loss is None:
            max_f1_loss, where = self.evaluation.max_f1_loss, f"{self.eval_file}: max_f1_loss"
            if max_f1_loss is None:
                raise PipelineError(f"{self.eval_file}: no max_f1_loss; rerun the pipeline (dvc repro)")
        if isinstance(max_f1_loss, bool) or not isinstance(max_f1_loss, (int, float)) or not 0 <= max_f1_loss <= 1:
            raise PipelineError(f"{where}: {max_f1_loss!r}; a fraction of macro-F1 between 0 and 1")
        return max_f1_loss

    def measured_elsewhere(self, allowed):
        """Whether another machine measured the run; refused unless `allowed`."""
        here = this_machine()
        # metrics written before the vendor, family, model and stepping were recorded: name and ISA
        other = self.measured != here if self.measured[2] else self.measured[:2] != here[:2]
        if other and not allowed:
            raise PipelineError(
                f"{self.bench_file}: measured on {_machine_words(self.measured)}, but this machine is "
                f"{_machine_words(here)}; another CPU can have another winner: rerun the benchmark here, or pass "
                "--allow-other-machine"
            )
        return other

    def table(self):
        """Each model's real-title figures, with its size from the fixed-shape table (the tie-break)."""
        return {
            n: {
                **(self.real.get(n) or {}),
                "file_bytes": figures.get("file_bytes") if isinstance(figures, dict) else None,
            }
            for n, figures in self.trained.items()
        }


def _left_out(name, figures, key, prefer, max_f1_loss, evaluation):
    """Why a timed model is not a candidate, or None."""
    if not isinstance(figures, dict) or key not in figures:
        return f"no {key} figure"
    if name != roles.fp32_name(roles.TEACHER):
        versus = evaluation.versus(name, roles.fp32_name(roles.TEACHER))
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
