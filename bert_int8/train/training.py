"""Fine-tuning with the transformers Trainer: one process, or N under torchrun (DDP: gloo on
CPUs, nccl on GPUs), logging to DVCLive, with checkpoints that a rerun resumes from.

`train.batch_size` is the global batch: each of N processes takes batch_size / N titles per
step, so the number of optimizer steps, the learning rate and its warmup/decay schedule are the
same for any N (DDP averages the gradients, as one process over the whole batch would).
Rank 0 alone makes the checkpoint folder (each rank adds its random-number state to a
checkpoint), decides whether to resume, and logs (DVCLive, progress lines); the stage writes
the model and metrics from rank 0's return value, and every other rank returns None.
"""

import hashlib
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from bert_int8.core import atomic, paths
from bert_int8.core.machine import environment
from bert_int8.core.params import per_process_batch
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.model.metrics import accuracy
from bert_int8.model.modeling import encode, load_finetuned, new_model, no_load_bars, predict_logits
from bert_int8.train.launch import run_once_or_launch, world
from bert_int8.train.progress_lines import ProgressLines

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
    """The last complete checkpoint of an interrupted run with the same fingerprint; else None,
    and a fresh checkpoint folder marked with this run's fingerprint (stale checkpoints
    removed). Rank 0 only."""
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
    return {"accuracy": accuracy(labels, np.argmax(logits, axis=-1))}


class TitleDataset:
    """Tokenized titles with labels, in the form the Trainer's collator pads per batch."""

    def __init__(self, features, labels):
        self.features = [dict(f, labels=y) for f, y in zip(features, labels)]

    def __len__(self):
        return len(self.features)

    def __getitem__(self, i):
        return self.features[i]


def fine_tune(model_p, train_p, classes, tokenizer, train_split, dev_split):
    """Train a new classifier (model.*) on train_split, measured on dev_split. Returns
    (model, report) on rank 0 and None on the other ranks."""
    # processes is left out: N processes run the same optimization as one, so a checkpoint of
    # either resumes in the other.
    fingerprint = run_fingerprint(
        {"model": model_p.model_dump(), "train": train_p.model_dump(exclude={"processes"})},
        [paths.prepared_split("train"), paths.prepared_split("dev"), paths.TOKENIZER / "tokenizer.json"],
    )
    run = TrainerRun("train", train_p, paths.CHECKPOINTS, paths.DVCLIVE_DIR, fingerprint)
    model = new_model(model_p, classes, len(tokenizer), tokenizer.model_max_length)  # may fail: before any write
    return run.train(
        model,
        tokenizer,
        run.dataset(tokenizer, train_split),
        run.dataset(tokenizer, dev_split),
        train_p.resolved_learning_rate(model_p.pretrained),
    )


class TrainerRun:
    """One training run with the transformers Trainer, as train and distill both run it: the
    threads and global batch shared out over the launcher's processes, seeded, checkpointed each
    epoch (resumed when `fingerprint` matches), logged to DVCLive in `live_dir` and in progress
    lines under `name`. `p` holds the shared training keys (epochs, batch_size, warmup_ratio,
    weight_decay, seed, threads)."""

    def __init__(self, name, p, checkpoints, live_dir, fingerprint):
        import torch
        from transformers import set_seed

        self.name, self.p, self.checkpoints, self.live_dir = name, p, Path(checkpoints), Path(live_dir)
        self.rank, self.world_size, local_processes = world()
        torch.set_num_threads(max(1, p.threads // local_processes))  # threads is per machine
        self.batch = per_process_batch(p.batch_size, self.world_size, "the launcher's processes", section=name)
        set_seed(p.seed)
        self.fingerprint = fingerprint

    @staticmethod
    def dataset(tokenizer, split, extra=None):
        features = encode(tokenizer, split.texts)
        if extra:
            for f, values in zip(features, extra[1]):
                f[extra[0]] = values
        return TitleDataset(features, split.labels)

    def train(
        self, model, tokenizer, train_ds, dev_ds, learning_rate, trainer_cls=None, collator=None, extra_args=None
    ):
        """(model, report) on rank 0, None elsewhere. `trainer_cls` / `collator`: a Trainer
        subclass and its collator (distill's); `extra_args`: TrainingArguments of theirs."""
        import torch
        from transformers import DataCollatorWithPadding, PrinterCallback, Trainer
        from transformers.integrations import DVCLiveCallback

        rank, world_size = self.rank, self.world_size
        resume_from = resumable_checkpoint(self.checkpoints, self.fingerprint) if rank == 0 else None
        on_terminal = sys.stderr.isatty()
        args = self.arguments(len(train_ds), learning_rate, on_terminal, extra_args)
        if world_size > 1:  # rank 0 decides (the other nodes may not see its disk, nor find it alike)
            _ = args.device  # starts the process group
            box = [resume_from]
            torch.distributed.broadcast_object_list(box, src=0)
            resume_from = box[0]
        if resume_from and rank == 0:
            print(f"resuming from {resume_from} (an earlier run with the same params and data was interrupted)")
        callbacks, live = [], None
        if rank == 0:
            from dvclive import Live

            live = Live(str(self.live_dir), dvcyaml=False, save_dvc_exp=False, resume=bool(resume_from))
            callbacks = [DVCLiveCallback(live=live)] + ([] if on_terminal else [ProgressLines(self.name)])
        trainer = (trainer_cls or Trainer)(
            model=model,
            args=args,
            train_dataset=train_ds,
            eval_dataset=dev_ds,
            data_collator=collator or DataCollatorWithPadding(tokenizer),
            processing_class=tokenizer,
            compute_metrics=accuracy_metric,
            callbacks=callbacks,
        )
        trainer.remove_callback(PrinterCallback)  # its raw log dicts would repeat ProgressLines' lines
        start = time.perf_counter()
        with no_load_bars():  # the training bar stays; the checkpoints' one-shard "Writing" bars go
            result = trainer.train(resume_from_checkpoint=resume_from)
        wall = time.perf_counter() - start
        dev = trainer.evaluate()  # every rank takes part; the metrics are gathered over all
        if rank != 0:
            return None
        live.end()
        report = self.report(result, dev, wall, trainer.state.global_step, len(train_ds), bool(resume_from))
        print(
            f"{self.name}: dev accuracy {dev['eval_accuracy']:.4f}, train loss {result.training_loss:.4f}, {wall:.0f}s"
        )
        return model, report

    def arguments(self, examples, learning_rate, on_terminal, extra_args=None):
        """The Trainer's arguments for `examples` train titles."""
        import torch
        from transformers import TrainingArguments

        p, world_size = self.p, self.world_size
        steps_per_epoch = max(1, examples // p.batch_size)
        return TrainingArguments(
            output_dir=str(self.checkpoints),
            num_train_epochs=p.epochs,
            per_device_train_batch_size=self.batch,
            per_device_eval_batch_size=256,
            learning_rate=learning_rate,
            warmup_steps=p.warmup_ratio,  # a value below 1 is a fraction of all steps
            weight_decay=p.weight_decay,
            lr_scheduler_type="linear",
            eval_strategy="epoch",
            save_strategy="epoch",
            save_total_limit=1,
            logging_strategy="steps",
            logging_steps=max(1, steps_per_epoch // 10),  # ten loss points per epoch in the plot
            seed=p.seed,
            data_seed=p.seed,
            # Random order; the collator pads each batch only to its longest title. (Grouping by
            # length was faster but trained far worse here: batches of one length are of few classes.)
            train_sampling_strategy="random",
            dataloader_pin_memory=torch.cuda.is_available(),
            # On by default, it multiplies the loss by the number of processes for models whose
            # forward takes **kwargs, assuming they divide by the global token count; a sequence
            # classifier's mean loss does not, so N processes would log (and step on) N x the loss.
            average_tokens_across_devices=False,
            ddp_backend=None if world_size == 1 else ("nccl" if torch.cuda.is_available() else "gloo"),
            report_to="none",  # DVCLive is added below, configured so it leaves dvc.yaml alone
            # The Trainer's progress bar with its ETA on a terminal; in a log, ProgressLines instead.
            disable_tqdm=not on_terminal,
            dataloader_num_workers=0,
            **(extra_args or {}),
        )

    def report(self, result, dev, wall, steps, examples, resumed):
        """train.json's (or distill.json's) figures of a finished run."""
        p, world_size = self.p, self.world_size
        return {
            "train_loss": round(result.training_loss, 4),
            "dev_accuracy": round(dev["eval_accuracy"], 4),
            "dev_loss": round(dev["eval_loss"], 4),
            "epochs": p.epochs,
            "train_examples": examples,
            "processes": world_size,
            "steps": steps,
            "wall_seconds": round(wall, 1),
            "train_examples_per_second": round(result.metrics["train_samples_per_second"], 1),
            "resumed": resumed,
        }


def pass_on_finetuned(name_or_path, classes, tokenizer, dev_split):
    """A classifier fine-tuned elsewhere: checked against the data's labels and measured on dev,
    untrained, so every later stage treats it as ours. Returns (model, report), or None on a
    rank other than 0."""
    from dvclive import Live

    if world()[0] != 0:  # under a launcher: nothing to share out, rank 0 does it alone
        return None
    model = load_finetuned(name_or_path, classes)
    dev_accuracy = accuracy(dev_split.labels, predict_logits(model, tokenizer, dev_split.texts).argmax(axis=1))
    live = Live(str(paths.DVCLIVE_DIR), dvcyaml=False, save_dvc_exp=False)
    live.log_metric("eval/accuracy", dev_accuracy)
    live.end()
    print(f"passed on {name_or_path} untrained: dev accuracy {dev_accuracy:.4f}")
    report = {"finetuned": name_or_path, "trained": False, "dev_accuracy": round(dev_accuracy, 4), "train_examples": 0}
    # A hub id's files can change under the same name: the commit they came from shows in a diff.
    revision = getattr(model.config, "_commit_hash", None)
    return model, report | ({"finetuned_revision": revision} if revision else {})


def run(params, script):
    """The train stage: fine-tune (model.*, train.*) on the prepared splits, or pass
    model.finetuned on, and write models_save/fp32/ and metrics/train.json. With
    train.processes > 1 it relaunches `script` as that many processes, of which rank 0 writes."""
    tokenizer = load_tokenizer(paths.TOKENIZER)  # bad input stops here, before any launch
    classes, train_split = load_prepared("train")
    dev_split = load_prepared("dev")[1]
    if params.model.finetuned:
        result = pass_on_finetuned(params.model.finetuned, classes, tokenizer, dev_split)
    elif run_once_or_launch(params.train.processes, script, "train"):
        result = fine_tune(params.model, params.train, classes, tokenizer, train_split, dev_split)
    else:
        return
    write_model(result, tokenizer, paths.FP32_DIR, "train.json", paths.CHECKPOINTS)


def write_model(result, tokenizer, out_dir, metrics_name, checkpoints):
    """Rank 0's (model, report): the model with its tokenizer in out_dir and the report with the
    machine in metrics/<metrics_name>, written together; then its checkpoints go. Nothing on
    the other ranks (result None)."""
    if result is None:
        return
    model, report = result
    with atomic.output_dir(out_dir) as out, no_load_bars():
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        atomic.write_json(paths.METRICS / metrics_name, {**report, "environment": environment()})
    shutil.rmtree(checkpoints, ignore_errors=True)
