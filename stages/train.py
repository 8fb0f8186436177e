"""Stage train: fine-tune a classifier with the transformers Trainer (bert_int8/train/training.py).

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

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.train import training


def main():
    training.run(load_params(), __file__)


if __name__ == "__main__":
    run_stage(main)
