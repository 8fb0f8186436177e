"""OpenVINO int8 by NNCF quantization-aware training of the torch classifier, exported to IR:
the OpenVINO backend's way when post-training int8 misses the accuracy budget (qat_case makes
the case). torch, NNCF's training and the distillation loss load only here; serving loads none.
"""

import copy
import random
import warnings

import nncf
import openvino as ov
import torch
from nncf.quantization.advanced_parameters import OverflowFix

from bert_int8.core.progress import progress
from bert_int8.model.losses import distill_loss

from .graph import model_inputs, quiet_nncf

QAT_TEMPERATURE = 2.0
QAT_SOFT_WEIGHT = 0.5


def quantize_int8_qat(
    model, tokenizer, calibration_texts, train, steps, learning_rate, batch_size, headroom, threads, desc
):
    """NNCF quantization-aware training of the FP32 torch classifier `model`: nncf.quantize with
    the transformer preset (as openvino.quantize_int8) calibrated on `calibration_texts`, then
    `steps` steps of training with the fake quantizers in place (their ranges are trained too),
    on seeded batches of `train` titles (a data.splits.Split), by distill's loss against the FP32
    model's own logits, at a constant learning rate; exported to OpenVINO IR, where the
    quantizers become int8 kernels. steps=0: NNCF's post-training int8 of the same model by the
    same toolchain. Trains on `threads` threads (the sums' order, hence the bytes, depend on it);
    progress under `desc`. Returns (the OpenVINO model, its recipe), for the backend to save."""
    teacher = model.to("cpu").eval()
    feeds = Feeds(tokenizer, model_inputs(teacher))
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    calibration = [feeds([t]) for t in calibration_texts]
    qmodel = _post_training(teacher, calibration, feeds.names, headroom)
    if steps:
        _train(qmodel, teacher, feeds, train, steps, learning_rate, batch_size, desc)
    qmodel.eval()
    ov_model = _export(qmodel, feeds, calibration_texts[0])
    torch.set_num_threads(torch_threads)
    return ov_model, qat_recipe(len(calibration), headroom, steps, learning_rate, batch_size, threads)


class Feeds:
    """A batch of titles as the model's named inputs (token types zero where it has them)."""

    def __init__(self, tokenizer, names):
        self.tokenizer, self.names = tokenizer, names

    def __call__(self, texts):
        tok = self.tokenizer
        enc = tok(list(texts), padding=True, truncation=True, max_length=tok.model_max_length, return_tensors="pt")
        return {k: enc[k] if k in enc else torch.zeros_like(enc["input_ids"]) for k in self.names}


def _post_training(teacher, calibration, names, headroom):
    """NNCF's post-training quantization of a copy of `teacher`: the fake quantizers QAT trains."""
    # NNCF feeds a calibration item to forward by position: in the order of its signature
    dataset = nncf.Dataset(calibration, lambda item: tuple(item[k] for k in names))
    with quiet_nncf():
        return nncf.quantize(
            copy.deepcopy(teacher),
            dataset,
            model_type=nncf.ModelType.TRANSFORMER,
            subset_size=len(calibration),
            advanced_parameters=nncf.AdvancedQuantizationParameters(
                overflow_fix=OverflowFix.ENABLE if headroom else OverflowFix.FIRST_LAYER
            ),
        )


def _train(qmodel, teacher, feeds, train, steps, learning_rate, batch_size, desc):
    """`steps` steps on seeded batches of `train`, by the distillation loss against `teacher`."""
    rng = random.Random(0)
    qmodel.train()
    trained = [p for p in qmodel.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=learning_rate)
    with progress(steps, desc, "steps") as bar:
        for _ in range(steps):
            idx = [rng.randrange(len(train.texts)) for _ in range(batch_size)]
            batch = feeds([train.texts[i] for i in idx])
            with torch.no_grad():
                target = teacher(**batch).logits
            labels = torch.tensor([train.labels[i] for i in idx])
            loss = distill_loss(qmodel(**batch).logits, labels, target, QAT_TEMPERATURE, QAT_SOFT_WEIGHT)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
            bar.update()


def _export(qmodel, feeds, first):
    """The trained model as OpenVINO IR, traced on a padded example: traced without one, the
    graph could drop the attention mask's path."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        # transformers' and torch's notes on tracing, which OpenVINO's converter does
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing")
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.trace", category=DeprecationWarning)
        return ov.convert_model(qmodel, example_input=feeds([first[:1], first + first]))


def qat_recipe(calibration_items, headroom, steps, learning_rate, batch_size, threads):
    recipe = {
        "method": "nncf.quantize + quantization-aware training" if steps else "nncf.quantize (torch)",
        "model_type": "transformer",
        "calibration_items": calibration_items,
        "ignored_scope": [],
        "overflow_fix": "every layer" if headroom else "first layer",
    }
    if steps:
        recipe["qat"] = {
            "steps": steps,
            "learning_rate": learning_rate,
            "batch_size": batch_size,
            "threads": threads,
            "loss": f"distillation from the FP32 model (temperature {QAT_TEMPERATURE}, soft weight {QAT_SOFT_WEIGHT})",
        }
    return recipe
