"""Your own data and your own model, as docs/own-data-and-model.md says: a small CSV with string
labels and no dev/test split through the stages; then the model it trained, given back as
`model.finetuned`, passed on untrained; and a model whose labels differ, refused."""

import json
import shutil

import torch
from conftest import ok, run_script, set_params
from fixtures import CLASSES, make_titles

from bert_int8.model.modeling import load_fp32

SENTIMENT = ["negative", "neutral", "positive"]


def write_own_csv(folder):
    """The docs' example: reviews.csv-like rows, `text,label`, string labels, train only."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(t, CLASSES[y]) for t, y in make_titles(30, 8) if y < 3]
    text = "text,label\n" + "".join(f'"{t}",{SENTIMENT[CLASSES.index(c)]}\n' for t, c in rows)
    (folder / "train.csv").write_text(text, encoding="utf-8")
    return folder


_set, _ok = set_params, ok


def test_own_csv_then_own_finetuned_model(workdir):
    write_own_csv(workdir / "data" / "own")
    _set(
        workdir,
        data={"format": "csv", "raw_dir": "data/own", "dev_fraction": 0.2, "test_fraction": 0.2},
        quantize={"backends": ["torch", "openvino"]},
    )
    for stage in ("prepare_data", "train", "classical", "quantize", "evaluate"):
        _ok(run_script(stage, workdir))
    assert json.loads((workdir / "data/prepared/classes.json").read_text()) == SENTIMENT
    first = json.loads((workdir / "metrics/evaluate.json").read_text())
    models, comparisons = first["models"], first["comparisons"]
    assert first["test_examples"] == 18 and set(models["fp32"]["per_class"]) == set(SENTIMENT)
    assert set(models["classical"]["per_class"]) == set(SENTIMENT) and "verdict" in comparisons["classical_vs_fp32"]
    assert comparisons["openvino_int8_vs_fp32"]["prediction_agreement"] > 0.8

    # the model just trained, as if fine-tuned elsewhere: passed on, not retrained (the same
    # weights, so the int8 models quantized from it above stand)
    shutil.copytree(workdir / "models_save/fp32", workdir / "my-model")
    _set(workdir, model={"finetuned": "my-model"})
    for stage in ("prepare_data", "train", "classical", "evaluate"):
        out = _ok(run_script(stage, workdir))
    train = json.loads((workdir / "metrics/train.json").read_text())
    assert train["trained"] is False and train["finetuned"] == "my-model"
    passed, mine = (load_fp32(workdir / d).state_dict() for d in ("models_save/fp32", "my-model"))
    assert passed.keys() == mine.keys() and all(torch.equal(passed[k], mine[k]) for k in mine)
    again = json.loads((workdir / "metrics/evaluate.json").read_text())
    assert again["models"]["fp32"] == models["fp32"]  # the same model, the same test predictions
    # the floor's row, with a finetuned model too
    assert again["comparisons"]["classical_vs_fp32"] == comparisons["classical_vs_fp32"]
    assert "openvino_int8" in out.stdout

    # the reference-shape benchmark of this model's shape: tests/test_reference_shape.py

    # a model whose labels are not the data's: one line naming the difference
    config = json.loads((workdir / "my-model/config.json").read_text())
    config["id2label"] = {"0": "negative", "1": "neutral", "2": "mixed"}
    config["label2id"] = {v: int(k) for k, v in config["id2label"].items()}
    (workdir / "my-model/config.json").write_text(json.dumps(config))
    result = run_script("prepare_data", workdir)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: model.finetuned: the model's labels differ from the data's "
        "(only in the data: ['positive']; only in the model: ['mixed'])"
    )
