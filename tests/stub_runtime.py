"""A fourth runtime for tests/test_new_backend.py: PyTorch FP32 behind another name, added
through the registry alone (BERT_INT8_BACKENDS=stub_runtime). Its "int8" model is a copy of
the FP32 weights, so its answers must equal PyTorch FP32's: an expectation no stage computes."""

import shutil
from pathlib import Path

from bert_int8.backends.base import Backend
from bert_int8.core.atomic import write_json

WEIGHTS, RECIPE = "stub.safetensors", "stub_recipe.json"


class Stub(Backend):
    name = "stub"
    label = "Stub"
    prefix = "stub_"
    subdir = "stub"
    int8_method = "an FP32 copy"
    description = "a test's runtime: PyTorch FP32 under another name"
    recipe_file = RECIPE
    int8_methods = ("static",)  # a copy of FP32: its answers do not move with batch-mates

    def precision_of(self, path):
        if not (Path(path) / WEIGHTS).is_file():
            return None
        return "int8" if (Path(path) / RECIPE).is_file() else "fp32"

    def files(self, path, precision):
        return [Path(path) / WEIGHTS]

    def load(self, path, precision, threads=None):
        from safetensors.torch import load_file
        from transformers import AutoConfig, AutoModelForSequenceClassification

        model = AutoModelForSequenceClassification.from_config(AutoConfig.from_pretrained(path))
        model.load_state_dict(load_file(Path(path) / WEIGHTS), strict=False)
        return model.eval()

    def build_fp32(self, source, out_dir):
        from safetensors.torch import save_file

        state = {k: v.contiguous() for k, v in source.model.state_dict().items()}
        save_file({k: v for k, v in state.items() if k != "bert.embeddings.position_ids"}, Path(out_dir) / WEIGHTS)

    def build_int8(self, source, fp32_dir, out_dir, keep_fp32):
        shutil.copyfile(Path(fp32_dir) / WEIGHTS, Path(out_dir) / WEIGHTS)
        recipe = {"method": "copy", "keep_fp32": list(keep_fp32)}
        write_json(Path(out_dir) / RECIPE, recipe)
        return recipe


BACKEND = Stub()
