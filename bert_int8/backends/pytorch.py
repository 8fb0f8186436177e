"""PyTorch: the FP32 model training writes, its BF16 cast, and torch.ao dynamic int8 (the
reference's method; backends/torch_int8.py), saved as an int8 state_dict plus its recipe.

Its FP32 model is models_save/fp32/ (training's output, and the source of every runtime's
models); quantize writes only its int8 model, beside it. Loading imports torch and transformers.
"""

from fnmatch import fnmatchcase
from pathlib import Path

from bert_int8.core.errors import PipelineError

from .base import Backend
from .torch_files import FP32_WEIGHTS, RECIPE_FILE, WEIGHTS_FILE


def with_torch_threads(model, threads):
    """`model` (a torch module) running each call with `threads` PyTorch intra-op threads, the
    process's setting restored after the call, even one that raises. Costs about a microsecond
    a call (torch.set_num_threads twice), nothing beside a forward pass. Calls of such models
    from several Python threads at once would race on the one process-wide setting."""
    import torch

    saved = []

    def enter(module, args):
        saved.append(torch.get_num_threads())
        torch.set_num_threads(threads)

    def leave(module, args, output):
        torch.set_num_threads(saved.pop())

    model.register_forward_pre_hook(enter)
    model.register_forward_hook(leave, always_call=True)
    return model


class PyTorch(Backend):
    name = "torch"
    label = "PyTorch"
    prefix = ""
    subdir = ""
    int8_method = "torch.ao dynamic"
    description = "PyTorch dynamic int8 (always built: the reference method)"
    libraries = ("torch",)
    bf16 = True
    builds_fp32 = False
    recipe_file = RECIPE_FILE

    def precision_of(self, path):
        if (Path(path) / RECIPE_FILE).is_file():
            return "int8"
        return "fp32" if any((Path(path) / f).is_file() for f in FP32_WEIGHTS) else None

    def files(self, path, precision):
        if precision == "int8":
            return [Path(path) / WEIGHTS_FILE]
        found = [Path(path) / f for f in FP32_WEIGHTS if (Path(path) / f).is_file()]
        return found[:1] or [Path(path) / FP32_WEIGHTS[0]]

    def load(self, path, precision, threads=None):
        try:
            import torch
        except ImportError:
            raise PipelineError(
                f"{path}: a PyTorch model needs torch and transformers (pip install 'bert-int8[pipeline]'); "
                "models of the other runtimes run without them"
            ) from None
        if precision == "int8":
            from .torch_int8 import load_quantized  # torch: imported only to load

            model = load_quantized(path)
        else:
            from bert_int8.model.modeling import load_fp32  # torch: imported only to load

            model = load_fp32(path)
            model = model.to(torch.bfloat16) if precision == "bf16" else model
        return with_torch_threads(model, threads) if threads else model

    def build_int8(self, source, fp32_dir, out_dir, keep_fp32):
        # torch: imported only to build
        from bert_int8.model.modeling import linear_names

        from .torch_int8 import apply_recipe, make_recipe, quantized_linear_names, save_quantized

        # The recipe keeps quantize.keep_fp32's patterns as written (they may match embeddings
        # too), then the layers the budget added, by name.
        recipe = make_recipe(source.params)
        patterns = recipe["keep_fp32"]
        recipe["keep_fp32"] = patterns + [n for n in keep_fp32 if not any(fnmatchcase(n, p) for p in patterns)]
        qmodel = apply_recipe(source.model, recipe)
        save_quantized(qmodel, source.tokenizer, recipe, out_dir)
        return {
            **recipe,
            "int8_linear_layers": len(quantized_linear_names(qmodel)),
            "fp32_linear_layers": linear_names(qmodel),  # the Linear layers left FP32
        }


BACKEND = PyTorch()
