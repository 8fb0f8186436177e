"""The classical floor: TF-IDF of character n-grams and a linear model (scikit-learn), the
receipt that says whether a BERT is worth its cost on this data. Not a served model.

The n-grams are hashed (HashingVectorizer: stateless, no vocabulary to store), so the saved
model is three arrays and a small JSON file, loaded with numpy and no pickle:
idf.npy (the TF-IDF weights), coef.npy and intercept.npy (the linear model).
"""

import json
import time
from pathlib import Path

import numpy as np

from bert_int8.core import atomic, paths
from bert_int8.core.errors import PipelineError
from bert_int8.core.machine import environment
from bert_int8.data.splits import load_prepared
from bert_int8.model.metrics import accuracy

CONFIG = "classical.json"
ARRAYS = ("idf", "coef", "intercept")


def vectorizer(ngram_min, ngram_max, hash_bits):
    from sklearn.feature_extraction.text import HashingVectorizer

    return HashingVectorizer(
        analyzer="char",
        ngram_range=(ngram_min, ngram_max),
        n_features=2**hash_bits,
        alternate_sign=False,  # counts, as TF-IDF expects
        norm=None,
        dtype=np.float32,
    )


def _linear_model(p):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if p.model == "linear_svm":
        return LinearSVC(C=p.C, random_state=0)  # seeded: its coordinate descent shuffles
    return LogisticRegression(C=p.C, max_iter=1000, random_state=0)


class ClassicalModel:
    """TF-IDF (sublinear tf, smoothed idf, l2 rows, as sklearn's TfidfTransformer) then a linear
    model's decision function."""

    def __init__(self, config, idf, coef, intercept):
        self.config, self.idf, self.coef, self.intercept = config, idf, coef, intercept
        self.features = vectorizer(config["ngram_min"], config["ngram_max"], config["hash_bits"])
        # features x classes, rows contiguous: a sparse batch times it reads whole rows (10x
        # faster than multiplying by the transposed view)
        self._coef_t = np.ascontiguousarray(coef.T)

    @classmethod
    def train(cls, p, classes, split):
        """Fit on `split` (texts, label ids) with classical.* `p`."""
        from sklearn.feature_extraction.text import TfidfTransformer

        present = sorted(set(split.labels))
        if len(present) < 2:
            raise PipelineError(
                f"classical: the train split has one class ({classes[present[0]]}): nothing to tell apart"
            )
        hashed = vectorizer(p.ngram_min, p.ngram_max, p.hash_bits).transform(split.texts)
        tfidf = TfidfTransformer(sublinear_tf=True).fit(hashed)
        model = _linear_model(p).fit(tfidf.transform(hashed), split.labels)
        coef = np.zeros((len(classes), hashed.shape[1]), dtype=np.float32)
        intercept = np.full(len(classes), -np.inf, dtype=np.float32)  # a class absent from train: never predicted
        if len(model.classes_) == 2:  # one decision row: positive for the second class, negative for the first
            coef[model.classes_[1]], intercept[model.classes_[1]] = model.coef_[0], model.intercept_[0]
            intercept[model.classes_[0]] = 0.0
        else:
            coef[model.classes_], intercept[model.classes_] = model.coef_, model.intercept_
        config = {**p.model_dump(), "classes": list(classes)}
        return cls(config, tfidf.idf_.astype(np.float32), coef, intercept)

    def scores(self, texts):
        from sklearn.preprocessing import normalize

        x = self.features.transform(texts)
        x.data = (np.log(x.data) + 1) * self.idf[x.indices]  # sublinear tf, times idf, in place
        return np.asarray(normalize(x, copy=False) @ self._coef_t) + self.intercept

    def predict(self, texts):
        return self.scores(texts).argmax(axis=1)

    def save(self, path):
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG).write_text(json.dumps(self.config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        for name in ARRAYS:
            np.save(path / f"{name}.npy", getattr(self, name))

    @classmethod
    def load(cls, path):
        path = Path(path)
        try:
            config = json.loads((path / CONFIG).read_text(encoding="utf-8"))
            arrays = [np.load(path / f"{name}.npy", allow_pickle=False) for name in ARRAYS]
        except FileNotFoundError as err:
            raise PipelineError(f"{path}: not a classical model ({Path(err.filename).name} missing)") from None
        except ValueError as err:
            raise PipelineError(f"{path}: not a classical model ({err})") from None
        return cls(config, *arrays)


def time_titles(model, titles, batch_size, repeats, min_pass_seconds):
    """Titles per second through `model.predict`, in batches of batch_size as the benchmark
    times the other models on real titles: one warm-up pass, then `repeats` timed passes, each
    going through the titles as many rounds as make it last min_pass_seconds."""
    batches = [titles[i : i + batch_size] for i in range(0, len(titles), batch_size)]

    def one_round():
        start = time.perf_counter()
        for batch in batches:
            model.predict(batch)
        return time.perf_counter() - start

    warm = one_round()
    rounds = max(1, int(np.ceil(min_pass_seconds / warm))) if warm > 0 else 1
    rates = []
    for _ in range(repeats):
        seconds = sum(one_round() for _ in range(rounds))
        rates.append(rounds * len(titles) / seconds)
    return rates


def run(params):
    """The classical stage: train on the prepared train split (classical.*), measure on dev, and
    write models_save/classical/ with metrics/classical.json."""
    classes, train = load_prepared("train")
    dev = load_prepared("dev")[1]
    start = time.perf_counter()
    model = ClassicalModel.train(params, classes, train)
    seconds = time.perf_counter() - start
    dev_accuracy = accuracy(dev.labels, model.predict(dev.texts))
    report = {
        "dev_accuracy": round(dev_accuracy, 4),
        "train_examples": len(train.labels),
        "train_seconds": round(seconds, 1),
        "environment": environment(),
    }
    with atomic.output_dir(paths.CLASSICAL_DIR) as out:
        model.save(out)
        atomic.write_json(paths.METRICS / "classical.json", report)
    print(f"classical: dev accuracy {dev_accuracy:.4f}, trained in {seconds:.0f}s")
