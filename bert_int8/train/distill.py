"""A smaller student from the teacher (the FP32 model train wrote): fewer encoder layers, taken
from the teacher's as DistilBERT's extraction takes them, optionally narrower, trained on the
hard labels and the teacher's soft labels (Hinton et al.'s loss, as TextBrewer and DistilBERT
weigh it). Any architecture whose encoder layers are a `layer.<i>.` list (BERT, RoBERTa,
ELECTRA, DistilBERT) can be cut.
"""

import copy
import re

import numpy as np

from bert_int8.core import paths
from bert_int8.core.errors import PipelineError
from bert_int8.data.splits import load_prepared
from bert_int8.data.tokenizer import load_tokenizer
from bert_int8.model.losses import distill_loss
from bert_int8.model.modeling import load_fp32, predict_logits
from bert_int8.train.launch import run_once_or_launch
from bert_int8.train.training import TrainerRun, run_fingerprint, write_model

LAYER_KEY = re.compile(r"\.layer\.(\d+)\.")
# The config keys of a student's width: transformers maps hidden_size and num_attention_heads to
# DistilBERT's dim and n_heads; its feed-forward size has no such alias.
WIDTH_KEYS = {"hidden": "hidden_size", "heads": "num_attention_heads"}


def spaced_layers(teacher_layers, student_layers):
    """The teacher's layers the student starts from: evenly spaced, the first and the last
    included (one layer: the first, next to the embeddings it was trained on)."""
    if student_layers == 1:
        return [0]
    step = (teacher_layers - 1) / (student_layers - 1)
    return [int(i * step + 0.5) for i in range(student_layers)]


def _teacher_layers(config):
    n = getattr(config, "num_hidden_layers", None)
    if not isinstance(n, int):
        raise PipelineError(f"distill: cannot cut a {config.model_type} model: its config names no encoder layers")
    return n


def student_config(teacher_config, p):
    """The teacher's config with the student's layers and width (distill.*)."""
    config = copy.deepcopy(teacher_config)
    config.num_hidden_layers = p.layers
    for key, attr in WIDTH_KEYS.items():
        if getattr(p, key) is not None:
            setattr(config, attr, getattr(p, key))
    if p.intermediate is not None:
        setattr(config, "intermediate_size" if hasattr(config, "intermediate_size") else "hidden_dim", p.intermediate)
    if config.hidden_size % config.num_attention_heads:
        raise PipelineError(
            f"distill.hidden: {config.hidden_size} is not a multiple of the student's {config.num_attention_heads} heads"
        )
    return config


def make_student(teacher, p):
    """A student of `teacher` (a transformers classifier), shaped by distill.*, its tensors
    copied from the teacher where the shapes allow: each student layer from the teacher layer
    spaced_layers names, the embeddings, pooler and classifier as they are. Returns (student,
    {"from_teacher_layers": [...], "copied_tensors": n, "new_tensors": n})."""
    n_teacher = _teacher_layers(teacher.config)
    if p.layers > n_teacher:
        raise PipelineError(f"distill.layers: {p.layers}, but the teacher has {n_teacher} layers")
    teacher_sd = teacher.state_dict()
    if not any(LAYER_KEY.search(k) for k in teacher_sd):
        raise PipelineError(f"distill: cannot cut a {teacher.config.model_type} model: no encoder layer.<i> weights")
    student = type(teacher)(student_config(teacher.config, p))
    s_params, t_params = (sum(x.numel() for x in m.parameters()) for m in (student, teacher))
    if s_params >= t_params:
        raise PipelineError(
            f"distill.layers: a student of {s_params:,} parameters is no smaller than its teacher ({t_params:,}); "
            "take fewer layers or a smaller distill.hidden / distill.intermediate"
        )
    chosen = spaced_layers(n_teacher, p.layers)
    state, copied = student.state_dict(), 0
    for key, value in state.items():
        source = LAYER_KEY.sub(lambda m: f".layer.{chosen[int(m.group(1))]}.", key)
        if source in teacher_sd and teacher_sd[source].shape == value.shape:
            state[key] = teacher_sd[source].clone()
            copied += 1
    student.load_state_dict(state)
    return student, {
        "from_teacher_layers": chosen,
        "copied_tensors": copied,
        "new_tensors": len(state) - copied,
        "parameters": s_params,
        "teacher_parameters": t_params,
    }


def _trainer_class(temperature, soft_weight):
    from transformers import Trainer

    class DistillTrainer(Trainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            teacher_logits = inputs.pop("teacher_logits", None)
            outputs = model(**{k: v for k, v in inputs.items() if k != "labels"})
            loss = distill_loss(outputs.logits, inputs["labels"], teacher_logits, temperature, soft_weight)
            return (loss, outputs) if return_outputs else loss

    return DistillTrainer


class TeacherLogitsCollator:
    """Pads titles per batch as train's collator does, and stacks each title's teacher logits."""

    def __init__(self, tokenizer):
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, features):
        import torch

        logits = [f.get("teacher_logits") for f in features]
        batch = self.pad([{k: v for k, v in f.items() if k != "teacher_logits"} for f in features])
        if logits[0] is not None:
            batch["teacher_logits"] = torch.tensor(np.stack(logits))
        return batch


def distill(teacher, p, tokenizer, train_split, dev_split, pretrained=False):
    """Train the student of `teacher` on train_split (distill.*), measured on dev_split.
    Returns (student, report) on rank 0, None on the other ranks. The teacher's logits over the
    train split are computed once per run (teacher in eval mode: no dropout), not per epoch."""
    fingerprint = run_fingerprint(
        {"distill": p.model_dump(exclude={"processes"})},
        [paths.prepared_split("train"), paths.prepared_split("dev"), paths.FP32_DIR / "model.safetensors"],
    )
    run = TrainerRun("distill", p, paths.DISTILL_CHECKPOINTS, paths.DVCLIVE_DISTILL_DIR, fingerprint)
    student, shape = make_student(teacher, p)  # may fail: before any write
    teacher_logits = predict_logits(teacher.eval(), tokenizer, train_split.texts, desc="distill: teacher logits")
    train_ds = run.dataset(tokenizer, train_split, extra=("teacher_logits", teacher_logits))
    dev_ds = run.dataset(tokenizer, dev_split)
    result = run.train(
        student,
        tokenizer,
        train_ds,
        dev_ds,
        p.resolved_learning_rate(pretrained),
        trainer_cls=_trainer_class(p.temperature, p.soft_weight),
        collator=TeacherLogitsCollator(tokenizer),
        # the Trainer would drop every column the model's forward does not take, the teacher's
        # logits among them, before the collator and the loss could see them
        extra_args={"remove_unused_columns": False},
    )
    if result is None:
        return None
    student, report = result
    report["learning_rate"] = p.resolved_learning_rate(pretrained)
    return student, {**shape, "layers": p.layers, "hidden": student.config.hidden_size, **report}


def run(all_params, script):
    """The distill stage: a student of models_save/fp32 (distill.*), written to
    models_save/student/fp32/ with metrics/distill.json. With distill.processes > 1 it relaunches
    `script` as that many processes, of which rank 0 writes."""
    params = all_params.distill
    pretrained = bool(all_params.model.pretrained or all_params.model.finetuned)
    tokenizer = load_tokenizer(paths.FP32_DIR)  # bad input stops here, before any launch
    teacher = load_fp32(paths.FP32_DIR)
    _, train_split = load_prepared("train")
    dev_split = load_prepared("dev")[1]
    if not run_once_or_launch(params.processes, script, "distill"):
        return
    result = distill(teacher, params, tokenizer, train_split, dev_split, pretrained)
    write_model(result, tokenizer, paths.STUDENT_FP32_DIR, "distill.json", paths.DISTILL_CHECKPOINTS)
