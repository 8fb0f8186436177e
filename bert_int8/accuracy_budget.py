"""Keep the int8 model within an accuracy budget by leaving its most sensitive layers in FP32.

Checked on the dev split, never on test. When the recipe's macro-F1 drop exceeds the budget,
each quantized Linear's sensitivity is measured as the F1 recovered by keeping that one layer in
FP32; the most sensitive layers are then kept in FP32, one at a time, until the budget holds.
"""
from .metrics import classification_metrics
from .modeling import predict_logits
from .quantization import apply_recipe, quantized_linear_names


def macro_f1(model, tokenizer, split, classes, batch_size):
    preds = predict_logits(model, tokenizer, split.texts, batch_size).argmax(axis=1)
    return classification_metrics(split.labels, preds, classes)["macro_f1"]


def fit_budget(model, tokenizer, recipe, dev, classes, max_drop, batch_size=256):
    """The recipe (with keep_fp32 extended as needed) and a report of what it took."""
    base_f1 = macro_f1(model, tokenizer, dev, classes, batch_size)
    qmodel = apply_recipe(model, recipe)
    drop = round(base_f1 - macro_f1(qmodel, tokenizer, dev, classes, batch_size), 4)
    report = {"dev_fp32_macro_f1": base_f1, "max_f1_drop": max_drop, "recipe_dev_f1_drop": drop,
              "sensitivity": {}, "kept_fp32_for_budget": []}
    if drop <= max_drop:
        report["dev_f1_drop"] = drop
        return recipe, qmodel, report

    layers = quantized_linear_names(qmodel)
    for name in layers:
        trial = apply_recipe(model, {**recipe, "keep_fp32": recipe["keep_fp32"] + [name]})
        # dev macro-F1 recovered by keeping this one layer in FP32
        report["sensitivity"][name] = round(macro_f1(trial, tokenizer, dev, classes, batch_size) - (base_f1 - drop), 4)
    order = sorted(layers, key=lambda n: (-report["sensitivity"][n], n))  # most sensitive first
    keep = list(recipe["keep_fp32"])
    for name in order:
        keep.append(name)
        report["kept_fp32_for_budget"].append(name)
        recipe = {**recipe, "keep_fp32": keep}
        qmodel = apply_recipe(model, recipe)
        drop = round(base_f1 - macro_f1(qmodel, tokenizer, dev, classes, batch_size), 4)
        if drop <= max_drop:
            break
    report["dev_f1_drop"] = drop
    return recipe, qmodel, report
