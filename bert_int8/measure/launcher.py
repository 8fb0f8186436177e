"""Each model timed in fresh processes of its own, in turn with the others, the machine
watched while they run.

Several runtimes in one process leave their thread pools alive side by side (torch's OpenMP
and each other runtime's own) and on 2 cores they fight: the one-process benchmark named the
wrong real-title winner. So, as optimum-benchmark's process launcher and pyperf's workers do,
the parent has a worker process started for one model at a time and collects its per-pass
figures. One process per model was not enough: three runs of the stage moved the
headline ratios by 6% and flipped a winner, because what differs from one process to the next
(thread placement, memory layout, runtime state) outweighs what differs between passes of one
process, and an interval from one process cannot cover it. So, as pyperf does, each model gets
`processes` fresh processes, each warmed up and running its share of the `repeats` passes, and
its figures come from all of their passes pooled. The processes go round the models (A B C A B
C ...), so a slow phase of the machine falls on every model alike, not on one.

A fresh interpreter spends about 3 s importing torch and transformers before it can time
anything, and a stage starts benchmark.processes workers per model, dozens. So the workers of one round are forked from a zygote
(`Zygote`), a process that has imported those and run nothing: each worker is a new process in
which no model has been loaded and no runtime's thread pool started (torch's OpenMP pool starts
at its first operation). What a fork shares with its siblings is what exec draws at random: the
address-space layout and the hash seed. So each round has a zygote of its own, a new
interpreter, and a model's processes, one per round, still come from as many interpreters:
the variation between them that pyperf's fresh workers sample is still sampled.

While a worker runs, `CpuWatch` measures how much of the machine's CPU went to anything else;
above `disturbed_share` that process is run once more, and if it is still disturbed its passes
are kept and the model is marked. The zygote ends with the stage and a worker with the zygote
(PR_SET_PDEATHSIG): a benchmark killed mid-way leaves nothing timing on.
"""

import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

import numpy as np

from bert_int8.backends.model_dir import ModelDir
from bert_int8.core.errors import ERROR_FILE_ENV, PipelineError, run_stage
from bert_int8.core.heap import freeze_heap
from bert_int8.core.params import BenchmarkParams
from bert_int8.core.parent_death import die_with_parent
from bert_int8.measure.canary import Canary
from bert_int8.measure.disturbance import CpuWatch
from bert_int8.measure.sizes import weight_bytes
from bert_int8.measure.timing import fixed_shape_passes, title_latency_passes, title_passes


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
        with Zygote() as zygote:  # one per round: each of a model's processes from another interpreter
            for name, model_dir in model_dirs.items():
                where = f"{name} (process {i + 1} of {len(shares)})"
                spec = _spec(model_dir, params, vocab_size, titles, passes)
                runs[name].append(time_process(spec, params, where, say, zygote))
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
    }


def time_process(spec, params, where, say, zygote):
    """(the worker's {passes, extra}, others' worst CPU share, disturbed) for one fresh process
    forked by `zygote`, run once more when others took more than `disturbed_share` of the CPU;
    `where` names it in the line that says so."""
    for attempt in (1, 2):
        result, share = _run_worker(spec, zygote)
        if share is None or share <= params.disturbed_share:
            return result, share, False
        if attempt == 1:
            say(f"benchmark: {where}: other processes took {share:.0%} of the CPU while it was timed; timing it again")
    return result, share, True


def pool(results):
    """(passes, extra) of one model from its processes' results: each figure's passes from all
    processes, in order; the cold figures the median over processes of each one's first call
    or pass over unseen shapes (every process starts cold, so each gives one); the canary's
    counts summed over the processes, its fastest run the fastest of any; the rest of `extra`
    (weight bytes) the same in every process, taken from the first."""
    passes = {}
    for result in results:
        for key, values in result["passes"].items():
            passes.setdefault(key, []).extend(values)
    extra = dict(results[0]["extra"])
    for key in extra:
        values = [r["extra"][key] for r in results]
        if key.startswith("cold_"):
            extra[key] = float(np.median(values))
        elif key == "canary_fastest_ms":
            extra[key] = min((v for v in values if v is not None), default=None)
        elif key.startswith("canary_"):
            extra[key] = sum(values)
    return passes, extra


class Zygote:
    """A process that has imported what every worker needs (`_preload`) and forks one worker at
    a time on request. Context manager; the process starts when first asked for (`pid`) and ends
    when the block closes its stdin, or with us."""

    proc = None

    def __enter__(self):
        return self

    @property
    def pid(self):
        return self._started().pid

    def _started(self):
        if self.proc is None:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bert_int8.measure.launcher", str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            if self.proc.stdout.readline().strip() != "ready":
                raise PipelineError(f"the benchmark's zygote process failed to start (exit {self.proc.wait()})")
        return self.proc

    def start(self, spec_file, out_file, err_file):
        """The pid of a worker forked to time `spec_file` into `out_file`."""
        stdin = self._started().stdin
        try:
            stdin.write(json.dumps([str(spec_file), str(out_file), str(err_file)]) + "\n")
            stdin.flush()
        except BrokenPipeError:
            raise self._ended() from None
        return int(self._answer())

    def wait(self):
        """That worker's exit status (negative: the signal that ended it)."""
        return int(self._answer())

    def _answer(self):
        line = self.proc.stdout.readline()
        if not line:
            raise self._ended()
        return line

    def _ended(self):
        return PipelineError(f"the benchmark's zygote process ended (exit {self.proc.wait()})")

    def __exit__(self, exc_type, *exc):
        if self.proc is None:
            return
        if exc_type is not None:  # interrupted: its worker's timing is of no use now
            self.proc.kill()
        try:
            self.proc.stdin.close()
        except BrokenPipeError:
            pass
        self.proc.wait()


def _run_worker(spec, zygote):
    with tempfile.TemporaryDirectory(prefix="bert-int8-timing-") as tmp:
        spec_file, out_file, err_file = (Path(tmp) / n for n in ("spec.json", "out.json", "error.txt"))
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        with CpuWatch([zygote.pid]) as watch:  # idle while its worker runs; the worker is its child
            watch.watch(zygote.start(spec_file, out_file, err_file))
            code = zygote.wait()
        if code:
            said = err_file.read_text(encoding="utf-8").strip() if err_file.is_file() else ""
            raise PipelineError(said.removeprefix("error: ") or f"{spec['path']}: timing process failed (exit {code})")
        return json.loads(out_file.read_text(encoding="utf-8")), watch.worst_share


def _preload():
    """What every worker imports before it can time anything (about 3 s of a fresh interpreter
    here): torch, transformers' classes the models and tokenizers load through, and ours (this
    module's imports: the model directory, the timing loops)."""
    import torch  # noqa: F401
    from transformers import AutoConfig, AutoModelForSequenceClassification, PreTrainedTokenizerFast  # noqa: F401


def _zygote(parent):
    """The zygote's loop: a line [spec file, out file, error file] on stdin forks a worker; it
    answers the worker's pid, then its exit status, a line each. The workers' own prints go to
    stderr, so that stdout carries only those answers."""
    die_with_parent(int(parent))
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # before any import: what a library prints must not reach the answers
    _preload()
    print("ready", file=answers, flush=True)
    for line in sys.stdin:
        spec_file, out_file, err_file = json.loads(line)
        me = os.getpid()
        pid = os.fork()
        if pid == 0:
            _forked_worker(me, spec_file, out_file, err_file)
        print(pid, file=answers, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status), file=answers, flush=True)


def _forked_worker(zygote, spec_file, out_file, err_file):
    """A forked worker: _worker under run_stage (its error line to `err_file`); never returns."""
    code = 1
    try:
        die_with_parent(zygote)
        os.environ[ERROR_FILE_ENV] = err_file
        run_stage(_worker, spec_file, out_file)
        code = 0
    except SystemExit as err:
        code = err.code if isinstance(err.code, int) else int(err.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _worker(spec_file, out_file):
    """The fresh process: load one model through the one model-directory loader, time its share
    of the passes."""
    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    params = BenchmarkParams(**spec["params"])
    model_dir = ModelDir.open(spec["path"])
    if spec["precision"] == "bf16":
        model_dir = model_dir.as_bf16()
    model = model_dir.load(params.threads)
    freeze_heap()  # what a collection would otherwise rescan in the middle of a timed pass
    canary = Canary(params.canary_slowdown)
    passes, extra = fixed_shape_passes(model, spec["vocab_size"], params, spec["passes"], canary)
    if spec["titles_file"]:
        from bert_int8.data.tokenizer import load_tokenizer  # transformers: only for real titles

        titles = Path(spec["titles_file"]).read_text(encoding="utf-8").split("\n")
        tokenizer = load_tokenizer(spec["tokenizer_dir"])
        lengths = model_dir.length_buckets  # padded as served (bert_int8.data.buckets)
        title, cold = title_passes(model, tokenizer, titles, params, spec["passes"], lengths, canary)
        passes.update(title)
        extra.update(cold)
        one, cold = title_latency_passes(
            model, tokenizer, titles[: params.title_latency_samples], params, spec["passes"], lengths, canary
        )
        passes.update(one)
        extra.update(cold)
    extra.update(canary.counts())
    if hasattr(model, "state_dict"):  # a torch module; a runtime session's weights are its files
        extra["weight_bytes"] = weight_bytes(model)
    Path(out_file).write_text(json.dumps({"passes": passes, "extra": extra}), encoding="utf-8")


if __name__ == "__main__":
    run_stage(_zygote, sys.argv[1])
