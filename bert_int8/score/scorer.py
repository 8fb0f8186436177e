"""The model's side of `bert-int8 score`: one Scorer holds the model once and scores chunks of
records, in this process (the local engine) or in each actor of a Ray pool (the Ray engine).

It classifies as `predict` does (bert_int8/serve/predict.py): titles sorted by length and padded per
batch of `batch_size`, lean (tokenizers and numpy, no torch) for the backends with numpy_io.
"""

import numpy as np

from bert_int8.serve.predict import Classifier, softmax


class Scorer:
    def __init__(self, model, threads=None, batch_size=64, all_scores=False):
        """`model`: a model directory's path or its ModelDir (a BF16 variant that `auto` chose)."""
        self.classifier = Classifier(model, threads=threads, batch_size=batch_size)
        self.labels = self.classifier.labels
        self.all_scores = all_scores

    def __call__(self, chunk):
        """The chunk (bert_int8.score.parts.chunks) less its texts, with label, label_name and
        probability for each good record (None for a rejected one), and `scores` (every class's
        probability, in label order) with all_scores."""
        good = [i for i, problem in enumerate(chunk["problem"]) if problem is None]
        n = len(chunk["problem"])
        label, name, prob = [None] * n, [None] * n, [None] * n
        scores = [None] * n
        if good:
            probs = softmax(self.classifier.logits([chunk["text"][i] for i in good]))
            best = probs.argmax(axis=1)
            for i, b, p in zip(good, best.tolist(), probs):
                label[i], name[i], prob[i] = b, self.labels[b], float(p[b])
                if self.all_scores:
                    scores[i] = p.astype(np.float64).tolist()
        out = {k: v for k, v in chunk.items() if k != "text"}
        out.update(label=label, label_name=name, probability=prob)
        if self.all_scores:
            out["scores"] = scores
        return out
