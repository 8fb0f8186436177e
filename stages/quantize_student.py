"""Stage quantize_student: each backend's models of the student, as quantize builds the teacher's.

Reads:  models_save/student/fp32/ (stage distill), data/prepared/dev.tsv (the budget: each
        student int8 model against the student's FP32 model, on dev), data/prepared/train.tsv
        (calibration titles), classes.json
Writes: models_save/student/<each backend's dir>/ (the layout of bert_int8/backends under
        models_save/student/), metrics/quantize_student.json (as metrics/quantize.json)
Params: quantize.* (the same recipe and budget as the teacher's models)
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.model import roles
from bert_int8.quantize.int8_models import run


def main():
    run(load_params().quantize, role=roles.STUDENT)


if __name__ == "__main__":
    run_stage(main)
