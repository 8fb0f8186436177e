"""Length buckets (bert_int8.data.buckets): which lengths, which bucket a batch goes to, how a model
directory records them, and that the lean Encoder pads up to them."""

import json

import numpy as np
import pytest
from fixtures import make_titles

from bert_int8.core.errors import PipelineError
from bert_int8.core.params import QuantizeParams
from bert_int8.data import buckets
from bert_int8.data.tokenizer import train_wordpiece
from bert_int8.serve.predict import Encoder


@pytest.mark.parametrize(
    "param, max_length, expected",
    [
        (None, 32, (8, 16, 24, 32)),
        (None, 30, (8, 16, 24, 30)),  # the max length closes them when it is no multiple of 8
        (None, 5, (5,)),
        ([4, 12, 64], 32, (4, 12, 32)),  # none beyond the max length, which closes them
        ([32], 32, (32,)),
        ([], 32, None),  # none: padded to the longest title
    ],
)
def test_lengths_from_the_param(param, max_length, expected):
    assert buckets.lengths_for(param, max_length) == expected


@pytest.mark.parametrize(
    "length, lengths, expected",
    [(1, (8, 16), 8), (8, (8, 16), 8), (9, (8, 16), 16), (17, (8, 16), 17), (9, None, 9), (9, (), 9)],
)
def test_a_batch_goes_to_the_first_bucket_that_holds_its_longest(length, lengths, expected):
    assert buckets.width(length, lengths) == expected


def test_the_param_must_ascend():
    with pytest.raises(ValueError, match="quantize.length_buckets"):
        QuantizeParams(length_buckets=[16, 8])
    with pytest.raises(ValueError, match="quantize.length_buckets"):
        QuantizeParams(length_buckets=[8, 8])
    with pytest.raises(ValueError):
        QuantizeParams(length_buckets=[0, 8])


def test_a_directory_records_them_and_a_bad_record_fails_in_one_line_naming_it(tmp_path):
    assert buckets.read(tmp_path) is None
    buckets.write(tmp_path, (8, 16))
    assert buckets.read(tmp_path) == (8, 16)
    path = tmp_path / buckets.FILE
    for bad in ("{", json.dumps({"lengths": [16, 8]}), json.dumps({"lengths": []}), json.dumps([8]), "\udcff"):
        path.write_text(bad, encoding="utf-8", errors="surrogateescape")
        with pytest.raises(PipelineError) as err:
            buckets.read(tmp_path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_the_encoder_pads_up_to_the_bucket_of_the_longest(tmp_path):
    texts = [t for t, _ in make_titles(3, 5)]
    tok = train_wordpiece(texts, 120, 1, False, 16)
    tok.save_pretrained(tmp_path)
    rows_lengths = [len(ids) for ids in tok(texts, truncation=True)["input_ids"]]
    short = [t for t, n in zip(texts, rows_lengths) if n < 12][:2]
    longer = [t for t, n in zip(texts, rows_lengths) if 12 < n < 16][:1]
    assert short and longer
    enc = Encoder(tmp_path)
    unbucketed = enc.pad(enc.encode(short))
    assert unbucketed["input_ids"].shape[1] == max(len(tok(t)["input_ids"]) for t in short) < 12
    buckets.write(tmp_path, (4, 12, 16))
    enc = Encoder(tmp_path)
    batch = enc.pad(enc.encode(short))
    assert batch["input_ids"].shape[1] == 12
    assert enc.pad(enc.encode(short + longer))["input_ids"].shape[1] == 16
    # the added columns are padding: the pad id, masked, type 0; the rest as unbucketed
    width = unbucketed["input_ids"].shape[1]
    for key in unbucketed:
        np.testing.assert_array_equal(batch[key][:, :width], unbucketed[key])
    assert (batch["attention_mask"][:, width:] == 0).all() and (batch["token_type_ids"][:, width:] == 0).all()
    assert (batch["input_ids"][:, width:] == tok.pad_token_id).all()


def test_the_transformers_path_pads_up_to_the_bucket_too():
    from bert_int8.model.modeling import pad

    texts = [t for t, _ in make_titles(3, 5)]
    tok = train_wordpiece(texts, 120, 1, False, 16)
    features = [{k: v[0] for k, v in tok([t], truncation=True).items()} for t in texts[:3]]
    longest = max(len(f["input_ids"]) for f in features)
    assert pad(tok, features)["input_ids"].shape[1] == longest
    batch = pad(tok, features, (longest - 1, longest + 1, 16))
    assert batch["input_ids"].shape[1] == longest + 1
    assert (batch["attention_mask"].sum(dim=1) == np.array([len(f["input_ids"]) for f in features])).all()


@pytest.mark.parametrize("served_with_buckets", [True, False])
def test_what_buckets_buy_is_the_bucketed_p50_over_the_unbucketed(served_with_buckets):
    from bert_int8.measure.comparison import bucket_trial

    bucketed, unbucketed = [1.0, 1.0, 1.0, 1.0, 1.0], [2.0, 2.0, 2.0, 2.0, 2.0]
    if served_with_buckets:
        passes = {"title_latency_ms_p50": bucketed, "unbucketed_title_latency_ms_p50": unbucketed}
    else:
        passes = {"title_latency_ms_p50": unbucketed, "bucketed_title_latency_ms_p50": bucketed}
    lengths = (8, 16) if served_with_buckets else None
    got = bucket_trial(passes, lengths)
    assert got["length_buckets"] == ([8, 16] if served_with_buckets else None)
    assert (got["buckets_over_none"], got["buckets_over_none_lo"], got["buckets_over_none_hi"]) == (0.5, 0.5, 0.5)
    other = "unbucketed_title_latency_ms_p50" if served_with_buckets else "bucketed_title_latency_ms_p50"
    assert got[other] == (2.0 if served_with_buckets else 1.0)
    assert bucket_trial({"title_latency_ms_p50": bucketed}, lengths) == {}


def test_the_service_warm_up_calls_each_bucket_once_at_batch_1(tmp_path):
    from fixtures import tiny_models_in_every_backend

    from bert_int8.serve.predict import Classifier

    root = tiny_models_in_every_backend(tmp_path) / "models_save"
    ov = Classifier(root / "openvino" / "int8")
    assert ov.found.length_buckets == (8, 16, 24, 32)  # the tiny tokenizer's 32 tokens
    shapes, logits = [], ov.model.logits
    ov.model.logits = lambda batch: shapes.append({k: v.shape for k, v in batch.items()}) or logits(batch)
    assert ov.warm_up() == [8, 16, 24, 32]
    assert [s["input_ids"] for s in shapes] == [(1, 8), (1, 16), (1, 24), (1, 32)]
    assert all(len(set(s.values())) == 1 for s in shapes)  # every input of one shape
    assert sorted(ov.model.static) == [8, 16, 24, 32]  # each on its own static-shape model
    # which answers as the dynamic-shape model does: a title alone at its bucket, and in a batch
    texts = [t for t, _ in make_titles(2, 11)]
    alone = np.concatenate([ov.logits([t]) for t in texts])
    np.testing.assert_allclose(alone, ov.logits(texts), atol=1e-5)
    # a directory without buckets: nothing to warm
    assert Classifier(root / "onnx" / "fp32").warm_up() == []
