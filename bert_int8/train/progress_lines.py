"""Training progress as plain lines, for logs (the Trainer's tqdm bar is for terminals)."""

import time

from transformers import TrainerCallback

from bert_int8.core.progress import clock


class ProgressLines(TrainerCallback):
    """Where stderr is not a terminal (CI, `dvc repro > log`), the Trainer's tqdm bar is off and
    this prints one line per logging step instead, under the stage's name: step, loss, dev
    accuracy, elapsed time and ETA. (Rank 0 only: the other ranks get no callbacks.)"""

    def __init__(self, name="train"):
        self.name = name

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
        if not figures:  # the closing summary log (runtime, samples/s): printed by the stage
            return
        print(
            f"{self.name}: step {state.global_step}/{state.max_steps} ({state.global_step / state.max_steps:.0%}), "
            f"{figures}, {clock(elapsed)} elapsed, ETA {clock(eta)}",
            flush=True,
        )
