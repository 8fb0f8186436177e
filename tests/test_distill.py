"""The student: which teacher layers it starts from, what it copies, its loss, and the one-line
refusals (bert_int8/train/distill.py). The stage itself runs in tests/test_pipeline_e2e.py."""

import math

import numpy as np
import pytest
import torch
from fixtures import CLASSES, tiny_config

from bert_int8.core.errors import PipelineError
from bert_int8.core.params import DistillParams, parse_params
from bert_int8.model.losses import distill_loss
from bert_int8.train.distill import make_student, spaced_layers


@pytest.mark.parametrize(
    "teacher, student, expected",
    [
        (12, 6, [0, 2, 4, 7, 9, 11]),  # DistilBERT's published choice from bert-base's 12
        (12, 3, [0, 6, 11]),
        (12, 2, [0, 11]),
        (4, 4, [0, 1, 2, 3]),
        (2, 1, [0]),
    ],
)
def test_spaced_layers(teacher, student, expected):
    assert spaced_layers(teacher, student) == expected


def _teacher(arch, layers=4):
    from transformers import AutoModelForSequenceClassification

    key = "n_layers" if arch == "distilbert" else "num_hidden_layers"
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_config(tiny_config(arch, **{key: layers})).eval()


def _layer_prefix(model):
    return {"bert": "bert.encoder", "roberta": "roberta.encoder", "electra": "electra.encoder"}.get(
        model.config.model_type, "distilbert.transformer"
    )


@pytest.mark.parametrize("arch", ["bert", "roberta", "distilbert", "electra"])
def test_student_starts_from_the_teachers_spaced_layers(arch):
    teacher = _teacher(arch)
    student, shape = make_student(teacher, DistillParams(layers=2))
    assert type(student) is type(teacher)
    assert shape["from_teacher_layers"] == [0, 3]
    assert shape["parameters"] < shape["teacher_parameters"]
    assert shape["new_tensors"] == 0  # same width: every tensor comes from the teacher
    prefix = _layer_prefix(teacher)
    t, s = teacher.state_dict(), student.state_dict()
    layer_keys = [k for k in s if k.startswith(f"{prefix}.layer.1.")]
    assert layer_keys
    for key in layer_keys:  # the student's second layer is the teacher's fourth
        torch.testing.assert_close(s[key], t[key.replace(".layer.1.", ".layer.3.")], rtol=0, atol=0)
    for key in s:
        if ".layer." not in key:  # embeddings, pooler, classifier: as they are
            torch.testing.assert_close(s[key], t[key], rtol=0, atol=0)
    ids = torch.tensor([[1, 5, 7, 2]])
    assert student(input_ids=ids).logits.shape == (1, len(CLASSES))


def test_a_narrower_student_copies_nothing_it_cannot():
    teacher = _teacher("bert", layers=2)
    student, shape = make_student(teacher, DistillParams(layers=2, hidden=16, heads=2, intermediate=32))
    assert student.config.hidden_size == 16 and student.config.intermediate_size == 32
    assert shape["parameters"] < shape["teacher_parameters"]
    assert shape["new_tensors"] > 0
    # what keeps its shape (the classifier's bias, one per class) is still copied
    torch.testing.assert_close(student.state_dict()["classifier.bias"], teacher.state_dict()["classifier.bias"])


def test_refusals_name_the_key():
    teacher = _teacher("bert", layers=2)
    with pytest.raises(PipelineError, match=r"^distill\.layers: 3, but the teacher has 2 layers$"):
        make_student(teacher, DistillParams(layers=3))
    with pytest.raises(PipelineError, match=r"^distill\.layers: a student of [\d,]+ parameters is no smaller"):
        make_student(teacher, DistillParams(layers=2))  # a pretrained teacher's shape is only known here
    with pytest.raises(PipelineError, match=r"^distill\.hidden: 31 is not a multiple of the student.s 2 heads$"):
        make_student(teacher, DistillParams(layers=1, hidden=31))  # the teacher's 2 heads


def test_an_architecture_without_encoder_layers_is_one_line():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    gpt2 = GPT2ForSequenceClassification(GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=50, num_labels=3))
    with pytest.raises(PipelineError, match=r"^distill: cannot cut a gpt2 model"):
        make_student(gpt2, DistillParams(layers=1))


def test_loss_is_hard_and_soft_labels_weighted():
    torch.manual_seed(1)
    logits, teacher = torch.randn(5, 4), torch.randn(5, 4)
    labels = torch.tensor([0, 1, 2, 3, 1])
    t, w = 2.0, 0.3

    def softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    s, tt = logits.numpy().astype(np.float64), teacher.numpy().astype(np.float64)
    ce = -np.mean(np.log(softmax(s)[np.arange(5), labels.numpy()]))
    p, q = softmax(tt / t), softmax(s / t)
    kl = np.mean(np.sum(p * (np.log(p) - np.log(q)), axis=1))
    expected = (1 - w) * ce + w * t * t * kl
    assert math.isclose(distill_loss(logits, labels, teacher, t, w).item(), expected, rel_tol=1e-5)
    assert math.isclose(distill_loss(logits, labels, None, t, w).item(), ce, rel_tol=1e-5)  # dev: no teacher
    # a student that matches its teacher exactly pays nothing for the soft term
    assert math.isclose(distill_loss(teacher, labels, teacher, t, 1.0).item(), 0.0, abs_tol=1e-6)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({"distill": {"layers": 2}}, "params.yaml: distill.layers: a student of 2 layers, hidden 256"),
        ({"distill": {"temperature": 0}}, "params.yaml: distill.temperature: Input should be greater than 0"),
        (
            {"distill": {"soft_weight": 1.5}},
            "params.yaml: distill.soft_weight: Input should be less than or equal to 1",
        ),
        ({"distill": {"hidden": 30, "heads": 4}}, "params.yaml: distill.hidden (30) must be a multiple"),
        (
            {"distill": {"hidden": 30}},
            "params.yaml: distill.hidden: the student's hidden size 30 is not a multiple of its 4",
        ),
        (
            {"distill": {"heads": 3}},
            "params.yaml: distill.heads: the student's hidden size 256 is not a multiple of its 3",
        ),
        (
            {"distill": {"batch_size": 63, "processes": 2}},
            "params.yaml: distill.batch_size (63, the global batch) must divide evenly over distill.processes (2)",
        ),
        ({"classical": {"ngram_min": 4}}, "params.yaml: classical.ngram_min (4) above classical.ngram_max (3)"),
        ({"classical": {"model": "svm"}}, "params.yaml: classical.model: Input should be 'linear_svm'"),
        ({"classical": {"C": 0}}, "params.yaml: classical.C: Input should be greater than 0"),
        ({"evaluate": {"max_f1_loss": 2}}, "params.yaml: evaluate.max_f1_loss: Input should be less than or equal"),
    ],
)
def test_bad_distill_and_classical_params_name_the_key(raw, message):
    with pytest.raises(PipelineError) as err:
        parse_params(raw)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    "path, role",
    [
        ("models_save/student/fp32", "student"),
        ("models_save/student/onnx/int8", "student"),
        ("serving/student/openvino/int8", "student"),  # a copy of the layout
        ("models_save/fp32", None),
        ("models_save/onnx/int8", None),
        ("/home/student/models/fp32", None),  # a folder named student elsewhere in the path
        ("/home/student/fp32x/int8", None),
    ],
)
def test_a_models_role_follows_its_place_in_the_layout(path, role):
    from bert_int8.model.roles import of_path

    assert of_path(path, {"onnx", "openvino"}) == role


def test_a_narrower_student_of_as_many_layers_passes_the_params_check():
    p = parse_params({"distill": {"layers": 2, "hidden": 128, "heads": 4}})
    assert p.distill.layers == p.model.layers == 2
