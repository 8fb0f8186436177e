"""Stage evaluate: both models on the test split.

Reads:  models_save/fp32/, models_save/int8/, data/prepared/test.tsv, classes.json
Writes: metrics/evaluate.json (accuracy, macro P/R/F1, per-class P/R/F1 per model, and the
        int8-vs-fp32 prediction agreement and drops), plots/confusion/{fp32,int8}.csv
Params: evaluate.*
"""
import json

import torch

from bert_int8 import atomic, paths
from bert_int8.data import read_split
from bert_int8.errors import run_stage
from bert_int8.metrics import classification_metrics, compare, confusion_rows
from bert_int8.modeling import load_fp32, predict_logits
from bert_int8.params import load_params
from bert_int8.quantization import load_quantized
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params().evaluate
    torch.set_num_threads(params.threads)
    classes = json.loads(paths.CLASSES.read_text(encoding="utf-8"))
    test = read_split(paths.prepared_split("test"), len(classes))
    models = {"fp32": load_fp32(paths.FP32_DIR), "int8": load_quantized(paths.INT8_DIR)}
    tokenizer = load_tokenizer(paths.FP32_DIR)
    preds, report = {}, {"test_examples": len(test.labels)}
    for name, model in models.items():
        preds[name] = predict_logits(model, tokenizer, test.texts, params.batch_size).argmax(axis=1)
        report[name] = classification_metrics(test.labels, preds[name], classes)
        atomic.write_text(paths.PLOTS / "confusion" / f"{name}.csv", confusion_rows(test.labels, preds[name], classes))
    report["int8_vs_fp32"] = compare(report["fp32"], report["int8"], preds["fp32"], preds["int8"])
    atomic.write_json(paths.METRICS / "evaluate.json", report)
    for name in models:
        print(f"{name}: accuracy {report[name]['accuracy']:.4f}, macro-F1 {report[name]['macro_f1']:.4f}")
    print(f"agreement {report['int8_vs_fp32']['prediction_agreement']:.4f}")


if __name__ == "__main__":
    run_stage(main)
