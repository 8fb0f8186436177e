"""Stage evaluate: every built model on the test split.

Reads:  every backend's models under models_save/ (bert_int8/backends; those quantize built),
        the student's under models_save/student/ (distill, quantize_student), the classical
        floor in models_save/classical/, data/prepared/test.tsv, classes.json
Writes: metrics/evaluate.json (accuracy with its Wilson 95% interval, macro P/R/F1, per-class
        P/R/F1 per model; for each other model its prediction agreement with the teacher's FP32
        and its drops, with their uncertainty from bert_int8.stats: bootstrap intervals, McNemar,
        verdict, loses_at_most; each student model also against the student's FP32; the
        classical floor against the teacher's FP32; evaluate.max_f1_loss; and the machine),
        plots/confusion/<model>.csv
Params: evaluate.*
BF16 variants (of the backends that have one) are evaluated where the CPU has native BF16.
An int8 model whose weights use all 8 bits, on a CPU without VNNI, is evaluated with a one-line
warning (model_dir.ModelDir.weight_range_warning).
"""

import sys

from bert_int8 import atomic, backends, paths
from bert_int8.classical import ClassicalModel
from bert_int8.data import load_prepared
from bert_int8.errors import run_stage
from bert_int8.machine import environment
from bert_int8.metrics import evaluate_models, summary_lines
from bert_int8.model_dir import built_models, weight_range_warnings
from bert_int8.params import load_params
from bert_int8.tokenizer import load_tokenizer


def main():
    params = load_params().evaluate
    classes, test = load_prepared("test")
    models = built_models()
    for warning in weight_range_warnings(models):  # pulled from a VNNI machine: evaluated as they are, said so
        print(warning, file=sys.stderr)
    tokenizer = load_tokenizer(paths.FP32_DIR)
    with atomic.output_dir(paths.PLOTS / "confusion") as confusion:
        classical = ClassicalModel.load(paths.CLASSICAL_DIR)
        report = evaluate_models(models, tokenizer, test, classes, params, confusion, classical)
        report["environment"] = environment(backends.libraries())
        atomic.write_json(paths.METRICS / "evaluate.json", report)
    for line in summary_lines(report, [*models, "classical"]):
        print(line)


if __name__ == "__main__":
    run_stage(main)
