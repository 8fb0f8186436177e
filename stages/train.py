"""Stage train: fine-tune BertForSequenceClassification with the transformers Trainer.

Reads:  data/prepared/{train,dev}.tsv, classes.json, tokenizer/
Writes: models_save/fp32/ (save_pretrained, safetensors, with the tokenizer),
        metrics/train.json, dvclive/ (per-epoch dev accuracy, training loss: DVC plots)
Params: model.*, train.*
With model.finetuned set, nothing is trained: the given classifier is checked against the data's
labels, measured on dev, and written to models_save/fp32.
Checkpoints go to models_save/checkpoints/ each epoch; a rerun after a kill resumes from the
last one when params and data are unchanged, and the directory is removed on success.
"""

import shutil
import sys
import time

import torch

from bert_int8 import atomic, paths
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.machine import environment
from bert_int8.modeling import encode, load_finetuned, new_model, predict_logits
from bert_int8.params import load_params
from bert_int8.tokenizer import load_tokenizer
from bert_int8.training import TitleDataset, accuracy_metric, progress_callback, resumable_checkpoint, run_fingerprint


def main():
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments, set_seed
    from transformers.integrations import DVCLiveCallback

    from dvclive import Live

    params = load_params()
    model_p, train_p = params.model, params.train
    torch.set_num_threads(train_p.threads)
    set_seed(train_p.seed)

    tokenizer = load_tokenizer(paths.TOKENIZER)
    classes, train_split = load_prepared("train")
    dev_split = load_prepared("dev")[1]
    if model_p.finetuned:
        return pass_on_finetuned(model_p.finetuned, classes, tokenizer, dev_split)
    train_ds = TitleDataset(encode(tokenizer, train_split.texts), train_split.labels)
    dev_ds = TitleDataset(encode(tokenizer, dev_split.texts), dev_split.labels)

    fingerprint = run_fingerprint(
        {"model": model_p.model_dump(), "train": train_p.model_dump()},
        [paths.prepared_split("train"), paths.prepared_split("dev"), paths.TOKENIZER / "tokenizer.json"],
    )
    resume_from = resumable_checkpoint(paths.CHECKPOINTS, fingerprint)
    if resume_from:
        print(f"resuming from {resume_from} (an earlier run with the same params and data was interrupted)")

    model = new_model(model_p, classes, len(tokenizer), tokenizer.model_max_length)
    steps_per_epoch = max(1, len(train_ds) // train_p.batch_size)
    args = TrainingArguments(
        output_dir=str(paths.CHECKPOINTS),
        num_train_epochs=train_p.epochs,
        per_device_train_batch_size=train_p.batch_size,
        per_device_eval_batch_size=256,
        learning_rate=train_p.resolved_learning_rate(model_p.pretrained),
        warmup_steps=train_p.warmup_ratio,  # a value below 1 is a fraction of all steps
        weight_decay=train_p.weight_decay,
        lr_scheduler_type="linear",
        eval_strategy="epoch",
        save_strategy="epoch",
        save_total_limit=1,
        logging_strategy="steps",
        logging_steps=max(1, steps_per_epoch // 10),  # ten loss points per epoch in the plot
        seed=train_p.seed,
        data_seed=train_p.seed,
        # Random order; the collator pads each batch only to its longest title. (Grouping by
        # length was faster but trained far worse here: batches of one length are of few classes.)
        train_sampling_strategy="random",
        dataloader_pin_memory=torch.cuda.is_available(),
        report_to="none",  # DVCLive is added below, configured so it leaves dvc.yaml alone
        # The progress bar with its ETA on a terminal; in a log, progress_callback's lines instead.
        disable_tqdm=not sys.stderr.isatty(),
        dataloader_num_workers=0,
    )
    live = Live(str(paths.DVCLIVE_DIR), dvcyaml=False, save_dvc_exp=False, resume=bool(resume_from))
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=dev_ds,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy_metric,
        callbacks=[DVCLiveCallback(live=live)] + ([] if sys.stderr.isatty() else [progress_callback()]),
    )
    start = time.perf_counter()
    result = trainer.train(resume_from_checkpoint=resume_from)
    wall = time.perf_counter() - start
    dev = trainer.evaluate()
    live.end()

    with atomic.output_dir(paths.FP32_DIR) as out:
        trainer.save_model(str(out))
        (out / "training_args.bin").unlink(missing_ok=True)  # a pickle; nothing here loads it
        tokenizer.save_pretrained(out)
    atomic.write_json(
        paths.METRICS / "train.json",
        {
            "train_loss": round(result.training_loss, 4),
            "dev_accuracy": round(dev["eval_accuracy"], 4),
            "dev_loss": round(dev["eval_loss"], 4),
            "epochs": train_p.epochs,
            "train_examples": len(train_ds),
            "wall_seconds": round(wall, 1),
            "train_examples_per_second": round(result.metrics["train_samples_per_second"], 1),
            "resumed": bool(resume_from),
            "environment": environment(),
        },
    )
    shutil.rmtree(paths.CHECKPOINTS, ignore_errors=True)
    print(f"dev accuracy {dev['eval_accuracy']:.4f}, train loss {result.training_loss:.4f}, {wall:.0f}s")


def pass_on_finetuned(name_or_path, classes, tokenizer, dev_split):
    """A classifier fine-tuned elsewhere: checked against the data's labels, measured on dev, and
    written to models_save/fp32 untrained, so every later stage treats it as ours."""
    from dvclive import Live

    model = load_finetuned(name_or_path, classes)
    dev_accuracy = float((predict_logits(model, tokenizer, dev_split.texts).argmax(axis=1) == dev_split.labels).mean())
    live = Live(str(paths.DVCLIVE_DIR), dvcyaml=False, save_dvc_exp=False)
    live.log_metric("eval/accuracy", dev_accuracy)
    live.end()
    with atomic.output_dir(paths.FP32_DIR) as out:
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        atomic.write_json(
            paths.METRICS / "train.json",
            {
                "finetuned": name_or_path,
                "trained": False,
                "dev_accuracy": round(dev_accuracy, 4),
                "train_examples": 0,
                "environment": environment(),
            },
        )
    print(f"passed on {name_or_path} untrained: dev accuracy {dev_accuracy:.4f}")


if __name__ == "__main__":
    run_stage(main)
