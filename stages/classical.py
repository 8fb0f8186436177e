"""Stage classical: the classical floor, TF-IDF of character n-grams and a linear model
(bert_int8/train/classical.py). A receipt, not a served model: evaluate compares it with the teacher's
FP32 on test, the benchmark times it on real titles.

Reads:  data/prepared/{train,dev}.tsv, classes.json
Writes: models_save/classical/ (classical.json, idf.npy, coef.npy, intercept.npy),
        metrics/classical.json (dev accuracy, training seconds, the machine)
Params: classical.*
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.train import classical


def main():
    classical.run(load_params().classical)


if __name__ == "__main__":
    run_stage(main)
