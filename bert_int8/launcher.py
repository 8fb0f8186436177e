"""Each model timed in fresh processes of its own, in turn with the others, the machine
watched while they run.

Several runtimes in one process leave their thread pools alive side by side (torch's OpenMP
and each other runtime's own) and on 2 cores they fight: the one-process benchmark named the
wrong real-title winner. So, as optimum-benchmark's process launcher and pyperf's workers do,
the parent starts `python -m bert_int8.launcher SPEC OUT` for one model at a time and collects
its per-pass figures. One process per model was not enough: three runs of the stage moved the
headline ratios by 6% and flipped a winner, because what differs from one process to the next
(thread placement, memory layout, runtime state) outweighs what differs between passes of one
process, and an interval from one process cannot cover it. So, as pyperf does, each model gets
`processes` fresh processes, each warmed up and running its share of the `repeats` passes, and
its figures come from all of their passes pooled. The processes go round the models (A B C A B
C ...), so a slow phase of the machine falls on every model alike, not on one.

While a worker runs, `CpuWatch` measures how much of the machine's CPU went to anything else;
above `disturbed_share` that process is run once more, and if it is still disturbed its passes
are kept and the model is marked. A worker ends with the parent (PR_SET_PDEATHSIG): a benchmark
killed mid-way leaves nothing timing on.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .disturbance import CpuWatch
from .errors import ERROR_FILE_ENV, PipelineError, run_stage
from .parent_death import die_with_parent


def process_shares(repeats, processes):
    """Timed passes of each process: `repeats` split as evenly as it goes, the first ones
    taking one more."""
    return [repeats // processes + (i < repeats % processes) for i in range(processes)]


def time_in_processes(model_dirs, params, vocab_size, titles=None, say=print, done=None):
    """{name: (passes, extra, worst_share, disturbed)} for each ModelDir of `model_dirs`, each
    timed in `params.processes` fresh processes started round-robin over the models. passes:
    every pass of every process, per figure, pooled; extra: the cold figures (see `pool`) and
    the weight bytes; worst_share: the largest share of the CPU others took in any window of
    any of its processes (None where /proc/stat is missing); disturbed: whether a process
    stayed above the threshold after its retry. `titles`: (a file of titles one per line, the
    tokenizer directory) to time real titles too. `say` gets the retry and warning lines,
    `done()` is called after each process."""
    runs = {name: [] for name in model_dirs}
    shares = process_shares(params.repeats, params.processes)
    for i, passes in enumerate(shares):
        for name, model_dir in model_dirs.items():
            where = f"{name} (process {i + 1} of {len(shares)})"
            runs[name].append(time_process(_spec(model_dir, params, vocab_size, titles, passes), params, where, say))
            if done:
                done()
    out = {}
    for name, got in runs.items():
        passes, extra = pool([result for result, _, _ in got])
        share = max((s for _, s, _ in got if s is not None), default=None)
        disturbed = any(d for _, _, d in got)
        if disturbed:
            say(
                f"warning: {name} timed while other processes took up to {share:.0%} of the machine's CPU "
                f"(threshold {params.disturbed_share:.0%}): its figures are marked disturbed"
            )
        out[name] = (passes, extra, share, disturbed)
    return out


def _spec(model_dir, params, vocab_size, titles, passes):
    return {
        "path": str(model_dir.path),
        "precision": model_dir.precision,
        "params": params.model_dump(),
        "passes": passes,
        "vocab_size": vocab_size,
        "titles_file": str(titles[0]) if titles else None,
        "tokenizer_dir": str(titles[1]) if titles else None,
        "parent": os.getpid(),
    }


def time_process(spec, params, where, say=print):
    """(the worker's {passes, extra}, others' worst CPU share, disturbed) for one fresh process,
    run once more when others took more than `disturbed_share` of the CPU; `where` names it in
    the line that says so."""
    for attempt in (1, 2):
        result, share = _run_worker(spec)
        if share is None or share <= params.disturbed_share:
            return result, share, False
        if attempt == 1:
            say(f"benchmark: {where}: other processes took {share:.0%} of the CPU while it was timed; timing it again")
    return result, share, True


def pool(results):
    """(passes, extra) of one model from its processes' results: each figure's passes from all
    processes, in order; the cold figures the median over processes of each one's first call
    or pass over unseen shapes (every process starts cold, so each gives one); the rest of
    `extra` (weight bytes) the same in every process, taken from the first."""
    passes = {}
    for result in results:
        for key, values in result["passes"].items():
            passes.setdefault(key, []).extend(values)
    extra = dict(results[0]["extra"])
    for key in extra:
        if key.startswith("cold_"):
            extra[key] = float(np.median([r["extra"][key] for r in results]))
    return passes, extra


def _run_worker(spec):
    with tempfile.TemporaryDirectory(prefix="bert-int8-timing-") as tmp:
        spec_file, out_file, err_file = (Path(tmp) / n for n in ("spec.json", "out.json", "error.txt"))
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        env = {**os.environ, ERROR_FILE_ENV: str(err_file)}
        with CpuWatch() as watch:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bert_int8.launcher", str(spec_file), str(out_file)], env=env
            )
            watch.watch(proc.pid)
            code = proc.wait()
        if code:
            said = err_file.read_text(encoding="utf-8").strip() if err_file.is_file() else ""
            raise PipelineError(said.removeprefix("error: ") or f"{spec['path']}: timing process failed (exit {code})")
        return json.loads(out_file.read_text(encoding="utf-8")), watch.worst_share


def _worker(spec_file, out_file):
    """The fresh process: load one model through the one model-directory loader, time its share
    of the passes."""
    from .model_dir import ModelDir
    from .params import BenchmarkParams
    from .sizes import weight_bytes
    from .timing import fixed_shape_passes, title_passes

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    die_with_parent(spec["parent"])
    params = BenchmarkParams(**spec["params"])
    model_dir = ModelDir.open(spec["path"])
    if spec["precision"] == "bf16":
        model_dir = model_dir.as_bf16()
    model = model_dir.load(params.threads)
    passes, extra = fixed_shape_passes(model, spec["vocab_size"], params, spec["passes"])
    if spec["titles_file"]:
        from .tokenizer import load_tokenizer

        titles = Path(spec["titles_file"]).read_text(encoding="utf-8").split("\n")
        title, cold = title_passes(model, load_tokenizer(spec["tokenizer_dir"]), titles, params, spec["passes"])
        passes.update(title)
        extra.update(cold)
    if hasattr(model, "state_dict"):  # a torch module; a runtime session's weights are its files
        extra["weight_bytes"] = weight_bytes(model)
    Path(out_file).write_text(json.dumps({"passes": passes, "extra": extra}), encoding="utf-8")


if __name__ == "__main__":
    run_stage(_worker, *sys.argv[1:3])
