"""Keep an int8 model within an accuracy budget by leaving its most sensitive layers in FP32.

Backend-agnostic: the caller passes a `quantize(keep)` that builds the int8 model with the
Linear layers named in `keep` left FP32 (PyTorch keep_fp32, ONNX Runtime nodes_to_exclude,
NNCF ignored_scope) and a `score(model)` that gives its dev macro-F1. Checked on the dev split,
never on test. When the full int8 model's macro-F1 drop exceeds the budget, each layer's
sensitivity is measured as the F1 recovered by keeping that one layer FP32; the most sensitive
layers are then kept FP32, one at a time, until the budget holds. Where the backend can train
with its quantizers in place, quantization-aware training is tried first, and layers fall back
to FP32 (post-training) only when it misses the budget too.
"""

from bert_int8.core.progress import progress
from bert_int8.model.metrics import classification_metrics
from bert_int8.model.modeling import predict_logits
from bert_int8.stats.significance import compare


def predictions(model, tokenizer, split, batch_size=256):
    return predict_logits(model, tokenizer, split.texts, batch_size).argmax(axis=1)


def macro_f1_of(preds, split, classes):
    return classification_metrics(split.labels, preds, classes)["macro_f1"]


def macro_f1(model, tokenizer, split, classes, batch_size=256):
    return macro_f1_of(predictions(model, tokenizer, split, batch_size), split, classes)


def dev_uncertainty(split, fp32_preds, preds, classes):
    """How sure the chosen model's dev drop is (stats.significance.compare against FP32), keys prefixed dev_
    (dev_f1_drop_lo/_hi, dev_mcnemar_p, dev_verdict, ...). Recorded beside the budget, not used
    by it: the rule stays the point drop against max_f1_drop."""
    found = compare(split.labels, fp32_preds, preds, len(classes))
    return {"dev_" + k.replace("macro_f1_drop", "f1_drop"): v for k, v in found.items()}


def fit_budget(quantize, score, layers, base_f1, max_drop, desc="budget", train_quantized=None):
    """(keep, model, report): the layers kept FP32, the int8 model built last (the chosen one:
    callers that write each build to the same place end with the right files there), and
    what it took (report["method"]: "post-training" or "quantization-aware training").
    Progress under `desc` for the sensitivity trials and for the layers kept.

    `train_quantized()`, where given, builds the int8 model by quantization-aware training
    (every layer int8): tried when the post-training model misses the budget, before any layer
    falls back to FP32, and kept if it meets the budget."""
    model = quantize([])
    drop = round(base_f1 - score(model), 4)
    report = {"method": "post-training", "recipe_dev_f1_drop": drop, "sensitivity": {}, "kept_fp32_for_budget": []}
    keep = []
    if drop > max_drop and train_quantized is not None:
        trained = train_quantized()
        report["qat_dev_f1_drop"] = qat_drop = round(base_f1 - score(trained), 4)
        if qat_drop <= max_drop:
            report.update(method="quantization-aware training", dev_f1_drop=qat_drop)
            return [], trained, report
        if not layers:  # no search follows to rebuild: the post-training model's files again
            model = quantize([])
    if drop > max_drop and layers:
        with progress(len(layers), f"{desc}: sensitivity per layer", "trials") as bar:
            for name in layers:
                # dev macro-F1 recovered by keeping this one layer in FP32
                report["sensitivity"][name] = round(score(quantize([name])) - (base_f1 - drop), 4)
                bar.update()
        # most sensitive first, until the budget holds (the bar stops early then)
        with progress(len(layers), f"{desc}: keeping layers FP32", "trials") as bar:
            for name in sorted(layers, key=lambda n: (-report["sensitivity"][n], n)):
                keep.append(name)
                model = quantize(keep)
                drop = round(base_f1 - score(model), 4)
                bar.update()
                if drop <= max_drop:
                    break
    report["kept_fp32_for_budget"] = list(keep)
    report["dev_f1_drop"] = drop
    return keep, model, report
