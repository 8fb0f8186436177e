"""Stage qat_case: a case made for post-training int8 to lose, and quantization-aware training on it.

Reads:  models_save/student/fp32/ (stage distill), data/prepared/{train,test}.tsv, classes.json
Writes: metrics/qat_case.json (the student's OpenVINO int8 calibrated on qat_case.calibration_samples
        titles, post-training and after quantization-aware training, each against the student's
        FP32 model on test: the paired bootstrap, McNemar, the verdict and loses_at_most)
Params: qat_case.*, and quantize.qat_* (the recipe quantize tries when an int8 model misses its budget)
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.quantize.qat_case import run


def main():
    run(load_params())


if __name__ == "__main__":
    run_stage(main)
