"""Stage quantize: each backend's models from the FP32 model, each int8 model within the budget.

Reads:  models_save/fp32/, data/prepared/dev.tsv (the budget is checked on dev),
        data/prepared/train.tsv (calibration titles, for backends that calibrate), classes.json
Writes: each backend in quantize.backends: models_save/<its dir>/{fp32,int8}/ (PyTorch: only
        models_save/int8/, beside training's models_save/fp32/); see bert_int8/backends,
        with length_buckets.json (quantize.length_buckets) where the backend pays per input shape,
        metrics/quantize.json (recipes, dev F1 drop per backend, layers kept FP32 and why)
Params: quantize.*
All backends' directories are built in a temporary place and swapped in together at the end.
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.quantize.int8_models import run


def main():
    run(load_params().quantize)


if __name__ == "__main__":
    run_stage(main)
