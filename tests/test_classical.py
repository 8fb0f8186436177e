"""The classical floor (bert_int8/train/classical.py): what it predicts is what scikit-learn's own
TF-IDF pipeline predicts, it survives a save and load without pickle, and a folder that is not
one of its models is one line."""

import numpy as np
import pytest
from fixtures import CLASSES, make_titles

from bert_int8.core.errors import PipelineError
from bert_int8.core.params import ClassicalParams
from bert_int8.data.splits import Split
from bert_int8.train.classical import ClassicalModel, time_titles, vectorizer

TRAIN = Split(*map(list, zip(*make_titles(20, 3))))
TEST = Split(*map(list, zip(*make_titles(8, 4))))


@pytest.mark.parametrize("model", ["linear_svm", "logistic_regression"])
def test_predicts_as_sklearns_own_pipeline(model):
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    p = ClassicalParams(ngram_min=1, ngram_max=2, hash_bits=14, model=model, C=0.5)
    ours = ClassicalModel.train(p, CLASSES, TRAIN)
    linear = (
        LinearSVC(C=0.5, random_state=0)
        if model == "linear_svm"
        else LogisticRegression(C=0.5, max_iter=1000, random_state=0)
    )
    theirs = make_pipeline(vectorizer(1, 2, 14), TfidfTransformer(sublinear_tf=True), linear).fit(
        TRAIN.texts, TRAIN.labels
    )
    np.testing.assert_allclose(ours.scores(TEST.texts), theirs.decision_function(TEST.texts), rtol=1e-4, atol=1e-5)
    assert (ours.predict(TEST.texts) == theirs.predict(TEST.texts)).all()
    assert np.mean(ours.predict(TEST.texts) == np.array(TEST.labels)) > 0.8  # the fixture's words are learnable


def test_saved_and_loaded_without_pickle(tmp_path):
    model = ClassicalModel.train(ClassicalParams(hash_bits=12), CLASSES, TRAIN)
    model.save(tmp_path / "classical")
    loaded = ClassicalModel.load(tmp_path / "classical")
    np.testing.assert_array_equal(loaded.scores(TEST.texts), model.scores(TEST.texts))
    assert loaded.config["classes"] == CLASSES


def test_a_class_missing_from_train_is_never_predicted():
    few = Split([t for t, y in zip(TRAIN.texts, TRAIN.labels) if y != 3], [y for y in TRAIN.labels if y != 3])
    model = ClassicalModel.train(ClassicalParams(hash_bits=12), CLASSES, few)
    assert model.scores(TEST.texts).shape == (len(TEST.texts), len(CLASSES))
    assert 3 not in set(model.predict(TEST.texts))


def test_two_classes_out_of_many_are_told_apart():
    two = [(t, y) for t, y in zip(TRAIN.texts, TRAIN.labels) if y in (2, 7)]
    model = ClassicalModel.train(ClassicalParams(hash_bits=12), CLASSES, Split(*map(list, zip(*two))))
    test = [(t, y) for t, y in zip(TEST.texts, TEST.labels) if y in (2, 7)]
    predicted = model.predict([t for t, _ in test])
    assert set(predicted) <= {2, 7}
    assert np.mean(predicted == np.array([y for _, y in test])) > 0.9


def test_one_class_is_one_line():
    one = Split([t for t, y in zip(TRAIN.texts, TRAIN.labels) if y == 4], [4] * TRAIN.labels.count(4))
    with pytest.raises(PipelineError, match=r"^classical: the train split has one class \(science\)"):
        ClassicalModel.train(ClassicalParams(hash_bits=12), CLASSES, one)


def test_a_folder_that_is_not_a_classical_model_is_one_line(tmp_path):
    with pytest.raises(PipelineError, match=r"not a classical model \(classical.json missing\)$"):
        ClassicalModel.load(tmp_path)
    ClassicalModel.train(ClassicalParams(hash_bits=12), CLASSES, TRAIN).save(tmp_path / "m")
    (tmp_path / "m" / "coef.npy").write_bytes(b"not an array")
    with pytest.raises(PipelineError, match=r"m: not a classical model"):
        ClassicalModel.load(tmp_path / "m")


def test_timing_gives_one_rate_per_pass():
    model = ClassicalModel.train(ClassicalParams(hash_bits=12), CLASSES, TRAIN)
    rates = time_titles(model, TEST.texts, batch_size=16, repeats=4, min_pass_seconds=0.0)
    assert len(rates) == 4 and all(r > 0 for r in rates)
