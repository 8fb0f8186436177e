"""Stage evaluate: every built model on the test split.

Reads:  every backend's models under models_save/ (bert_int8/backends; those quantize built),
        the student's under models_save/student/ (distill, quantize_student), the classical
        floor in models_save/classical/, data/prepared/test.tsv, classes.json
Writes: metrics/evaluate.json (bert_int8.core.reports.Evaluation): `models`, per model its
        accuracy with its Wilson 95% interval, macro and per-class P/R/F1; `comparisons`, for
        each other model against the teacher's FP32 (`<model>_vs_fp32`), and each student model
        also against the student's FP32 (`<model>_vs_student_fp32`), the prediction agreement
        and the drops with their uncertainty (bert_int8.stats.significance: bootstrap intervals,
        McNemar, verdict, loses_at_most), the classical floor's too; `test_examples`,
        `max_f1_loss` (evaluate.max_f1_loss) and `environment` (the machine);
        plots/confusion/<model>.csv
Params: evaluate.*
BF16 variants (of the backends that have one) are evaluated where the CPU has native BF16.
An int8 model whose weights use all 8 bits, on a CPU without VNNI, is evaluated with a one-line
warning (model_dir.ModelDir.weight_range_warning).
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.measure import evaluate


def main():
    evaluate.run(load_params().evaluate)


if __name__ == "__main__":
    run_stage(main)
