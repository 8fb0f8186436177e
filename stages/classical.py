"""Stage classical: the classical floor, TF-IDF of character n-grams and a linear model
(bert_int8/classical.py). A receipt, not a served model: evaluate compares it with the teacher's
FP32 on test, the benchmark times it on real titles.

Reads:  data/prepared/{train,dev}.tsv, classes.json
Writes: models_save/classical/ (classical.json, idf.npy, coef.npy, intercept.npy),
        metrics/classical.json (dev accuracy, training seconds, the machine)
Params: classical.*
"""

import time

from bert_int8 import atomic, paths
from bert_int8.classical import ClassicalModel
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.machine import environment
from bert_int8.metrics import accuracy
from bert_int8.params import load_params


def main():
    params = load_params().classical
    classes, train = load_prepared("train")
    dev = load_prepared("dev")[1]
    start = time.perf_counter()
    model = ClassicalModel.train(params, classes, train)
    seconds = time.perf_counter() - start
    dev_accuracy = accuracy(dev.labels, model.predict(dev.texts))
    report = {
        "dev_accuracy": round(dev_accuracy, 4),
        "train_examples": len(train.labels),
        "train_seconds": round(seconds, 1),
        "environment": environment(),
    }
    with atomic.output_dir(paths.CLASSICAL_DIR) as out:
        model.save(out)
        atomic.write_json(paths.METRICS / "classical.json", report)
    print(f"classical: dev accuracy {dev_accuracy:.4f}, trained in {seconds:.0f}s")


if __name__ == "__main__":
    run_stage(main)
