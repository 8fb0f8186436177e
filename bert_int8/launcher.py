"""Each model timed in a fresh process of its own, the machine watched while it runs.

Several runtimes in one process leave their thread pools alive side by side (torch's OpenMP,
ONNX Runtime's, OpenVINO's) and on 2 cores they fight: the one-process benchmark named the
wrong real-title winner. So, as optimum-benchmark's process launcher and pyperf's workers do,
the parent starts `python -m bert_int8.launcher SPEC OUT` for one model at a time and collects
its per-pass figures. While the worker runs, `CpuWatch` measures how much of the machine's CPU
went to anything else; above `disturbed_share` the model is timed once more, and if it is
still disturbed its figures are kept and marked.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .disturbance import CpuWatch
from .errors import ERROR_FILE_ENV, PipelineError, run_stage


def time_in_fresh_process(model_dir, params, vocab_size, titles=None, say=print):
    """(passes, extra, worst_share, disturbed) for one ModelDir: the worker's per-pass figures,
    its cold and size figures, the largest share of the CPU others took in any window while it
    ran (None where /proc/stat is missing), and whether that stayed above the threshold after
    one retry. `titles`: (a file of titles one per line, the tokenizer directory) to time real
    titles too. `say` gets the one warning line."""
    spec = {
        "path": str(model_dir.path),
        "precision": model_dir.precision,
        "params": params.model_dump(),
        "vocab_size": vocab_size,
        "titles_file": str(titles[0]) if titles else None,
        "tokenizer_dir": str(titles[1]) if titles else None,
    }
    for attempt in (1, 2):
        result, share = _run_worker(spec)
        if share is None or share <= params.disturbed_share:
            return result["passes"], result["extra"], share, False
        if attempt == 1:
            say(
                f"benchmark: {model_dir.name}: other processes took {share:.0%} of the CPU while it was timed; timing it again"
            )
    say(
        f"warning: {model_dir.name} timed while other processes took {share:.0%} of the machine's CPU "
        f"(threshold {params.disturbed_share:.0%}): its figures are marked disturbed"
    )
    return result["passes"], result["extra"], share, True


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
    """The fresh process: load one model through the one model-directory loader, time it."""
    from .model_dir import ModelDir
    from .params import BenchmarkParams
    from .sizes import weight_bytes
    from .timing import fixed_shape_passes, title_passes

    spec = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    params = BenchmarkParams(**spec["params"])
    model_dir = ModelDir.open(spec["path"])
    if spec["precision"] == "bf16":
        model_dir = model_dir.as_bf16()
    model = model_dir.load(params.threads)
    passes, extra = fixed_shape_passes(model, spec["vocab_size"], params)
    if spec["titles_file"]:
        from .tokenizer import load_tokenizer

        titles = Path(spec["titles_file"]).read_text(encoding="utf-8").split("\n")
        title, cold = title_passes(model, load_tokenizer(spec["tokenizer_dir"]), titles, params)
        passes.update(title)
        extra.update(cold)
    if hasattr(model, "state_dict"):  # a torch module; a runtime session's weights are its files
        extra["weight_bytes"] = weight_bytes(model)
    Path(out_file).write_text(json.dumps({"passes": passes, "extra": extra}), encoding="utf-8")


if __name__ == "__main__":
    run_stage(_worker, *sys.argv[1:3])
