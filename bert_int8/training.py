"""Fine-tuning with the transformers Trainer (so the same code runs under torchrun / accelerate),
logging to DVCLive, with checkpoints that a rerun resumes from."""

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

FINGERPRINT_FILE = "run_fingerprint.json"


def run_fingerprint(params_sections, input_files):
    """A hash of everything a training run depends on: a checkpoint is resumed only when it matches."""
    h = hashlib.sha256(json.dumps(params_sections, sort_keys=True).encode())
    for f in sorted(map(str, input_files)):
        h.update(f.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()


def _complete(checkpoint):
    # The Trainer writes trainer_state.json last: without it, a save was cut short.
    try:
        json.loads((checkpoint / "trainer_state.json").read_text())
        return True
    except (OSError, ValueError):
        return False


def resumable_checkpoint(checkpoint_dir, fingerprint):
    """The last complete checkpoint of an interrupted run with the same fingerprint, else None
    (and stale checkpoints are removed)."""
    checkpoint_dir = Path(checkpoint_dir)
    marker = checkpoint_dir / FINGERPRINT_FILE
    if marker.is_file() and marker.read_text().strip() == fingerprint:
        found = sorted(checkpoint_dir.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        found = [p for p in found if _complete(p)]
        if found:
            return str(found[-1])
    shutil.rmtree(checkpoint_dir, ignore_errors=True)
    checkpoint_dir.mkdir(parents=True)
    marker.write_text(fingerprint + "\n")
    return None


def accuracy_metric(eval_pred):
    logits, labels = eval_pred
    return {"accuracy": float((np.argmax(logits, axis=-1) == labels).mean())}


class TitleDataset:
    """Tokenized titles with labels, in the form the Trainer's collator pads per batch."""

    def __init__(self, features, labels):
        self.features = [dict(f, labels=y) for f, y in zip(features, labels)]

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i]


def progress_callback():
    """Where stderr is not a terminal (CI, `dvc repro > log`), the Trainer's tqdm bar is off and
    this callback prints one line per logging step instead: step, loss, elapsed time and ETA.
    On a terminal the Trainer's own bar shows the same, with its ETA."""
    import time

    from transformers import TrainerCallback

    from .progress import _clock

    class ProgressLines(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.start, self.first_step = time.monotonic(), state.global_step

        def on_log(self, args, state, control, logs=None, **kwargs):
            done = state.global_step - self.first_step
            if not done or not state.max_steps:
                return
            elapsed = time.monotonic() - self.start
            eta = elapsed / done * (state.max_steps - state.global_step)
            figures = ", ".join(
                f"{k} {v:.4g}"
                for k, v in (logs or {}).items()
                if k in ("loss", "eval_loss", "eval_accuracy") and isinstance(v, float)
            )
            print(
                f"train: step {state.global_step}/{state.max_steps} ({state.global_step / state.max_steps:.0%}), "
                f"{figures}, {_clock(elapsed)} elapsed, ETA {_clock(eta)}",
                flush=True,
            )

    return ProgressLines()
