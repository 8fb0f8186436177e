"""Stage evaluate: every built model on the test split.

Reads:  models_save/fp32/, models_save/int8/, models_save/onnx/ (when built),
        data/prepared/test.tsv, classes.json
Writes: metrics/evaluate.json (accuracy, macro P/R/F1, per-class P/R/F1 per model, and for
        each other model its prediction agreement with FP32 and its drops),
        plots/confusion/<model>.csv
Params: evaluate.*
"""
import json

from bert_int8 import atomic, paths
from bert_int8.data import read_split
from bert_int8.errors import run_stage
from bert_int8.metrics import classification_metrics, compare, confusion_rows
from bert_int8.modeling import predict_logits
from bert_int8.params import load_params
from bert_int8.predict import load_model
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params().evaluate
    classes = json.loads(paths.CLASSES.read_text(encoding="utf-8"))
    test = read_split(paths.prepared_split("test"), len(classes))
    models = {name: load_model(d, params.threads)[0] for name, d in paths.built_models().items()}
    tokenizer = load_tokenizer(paths.FP32_DIR)

    preds, report = {}, {"test_examples": len(test.labels)}
    for name, model in models.items():
        preds[name] = predict_logits(model, tokenizer, test.texts, params.batch_size).argmax(axis=1)
        report[name] = classification_metrics(test.labels, preds[name], classes)
        atomic.write_text(paths.PLOTS / "confusion" / f"{name}.csv", confusion_rows(test.labels, preds[name], classes))
    for name in models:
        if name != "fp32":
            report[f"{name}_vs_fp32"] = compare(report["fp32"], report[name], preds["fp32"], preds[name])
    atomic.write_json(paths.METRICS / "evaluate.json", report)
    for name in models:
        vs = report.get(f"{name}_vs_fp32")
        extra = f", agreement with fp32 {vs['prediction_agreement']:.4f}" if vs else ""
        print(f"{name}: accuracy {report[name]['accuracy']:.4f}, macro-F1 {report[name]['macro_f1']:.4f}{extra}")


if __name__ == "__main__":
    run_stage(main)
