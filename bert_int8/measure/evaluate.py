"""The evaluate stage's work: every built model, the student's and the classical floor on the
test split (bert_int8.model.metrics), with the confusion matrices for the plots."""

import sys

from bert_int8 import backends
from bert_int8.backends.model_dir import built_models, weight_range_warnings
from bert_int8.core import atomic, paths
from bert_int8.core.machine import environment
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.model import roles
from bert_int8.model.metrics import evaluate_models, summary_lines
from bert_int8.train.classical import ClassicalModel


def run(params):
    """Write metrics/evaluate.json and plots/confusion/ (evaluate.*), and print a line a model."""
    classes, test = load_prepared("test")
    models = built_models()
    for warning in weight_range_warnings(models):  # pulled from a VNNI machine: evaluated as they are, said so
        print(warning, file=sys.stderr)
    tokenizer = load_tokenizer(paths.FP32_DIR)
    with atomic.output_dir(paths.PLOTS / "confusion") as confusion:
        classical = ClassicalModel.load(paths.CLASSICAL_DIR)
        report = evaluate_models(models, tokenizer, test, classes, params, confusion, classical)
        report.environment = environment(backends.libraries())
        atomic.write_json(paths.METRICS / "evaluate.json", report.to_json())
    for line in summary_lines(report, [*models, roles.CLASSICAL]):
        print(line)
