"""Stage train: fine-tune a classifier with the transformers Trainer (bert_int8/training.py).

Reads:  data/prepared/{train,dev}.tsv, classes.json, tokenizer/; model.pretrained or
        model.finetuned (a hub id, or a folder: put it under models_in/, a dependency)
Writes: models_save/fp32/ (save_pretrained, safetensors, with the tokenizer),
        metrics/train.json (with the machine), dvclive/ (training loss and dev accuracy: DVC plots)
Params: model.*, train.*
train.processes > 1 reruns this script as N processes (DDP, torch's elastic launcher, as
torchrun); under any launcher only rank 0 writes the model and metrics. With model.finetuned
set, nothing is trained: the given classifier is checked against the data's labels, measured
on dev, and written to models_save/fp32.
Checkpoints go to models_save/checkpoints/ each epoch; a rerun after a kill resumes from the
last one when params and data are unchanged, and the directory is removed on success.
"""

import shutil

from bert_int8 import atomic, paths, training
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.machine import environment
from bert_int8.modeling import no_load_bars
from bert_int8.params import load_params
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params()
    tokenizer = load_tokenizer(paths.TOKENIZER)  # bad input stops here, before any launch
    classes, train_split = load_prepared("train")
    dev_split = load_prepared("dev")[1]
    if params.train.processes > 1 and not params.model.finetuned and not training.launched():
        return training.launch(params.train.processes, __file__)
    if params.model.finetuned:
        result = training.pass_on_finetuned(params.model.finetuned, classes, tokenizer, dev_split)
    else:
        result = training.fine_tune(params.model, params.train, classes, tokenizer, train_split, dev_split)
    if result is None:  # not rank 0 of a multi-process run: rank 0 writes
        return
    model, report = result
    with atomic.output_dir(paths.FP32_DIR) as out, no_load_bars():
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        atomic.write_json(paths.METRICS / "train.json", {**report, "environment": environment()})
    shutil.rmtree(paths.CHECKPOINTS, ignore_errors=True)


if __name__ == "__main__":
    run_stage(main)
