"""The HTTP service: POST /predict, GET /health, with an OpenAPI schema (FastAPI).

Bad requests get a 4xx with a message, never a 500: wrong JSON or types (422), an empty list
or an empty title (422), too many titles or a title too long (413).
"""

import threading

from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict, StrictStr


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    texts: list[StrictStr]


class Score(BaseModel):
    label: str
    probability: float


class Prediction(BaseModel):
    text: str
    label: str
    label_id: int
    top_k: list[Score]


class PredictResponse(BaseModel):
    predictions: list[Prediction]


class Health(BaseModel):
    status: str
    model: str
    kind: str
    labels: list[str]


def create_app(classifier, max_texts=256, max_chars=512, top_k=3):
    app = FastAPI(title="bert-int8 title classifier", version="1")
    # One forward pass at a time: torch already uses every thread it was given, and requests
    # taking turns keeps latency predictable instead of oversubscribing the cores.
    lock = threading.Lock()

    @app.get("/health", response_model=Health)
    def health():
        return Health(status="ok", model=classifier.name, kind=classifier.kind, labels=classifier.labels)

    @app.post("/predict", response_model=PredictResponse)
    def predict(request: PredictRequest):  # a plain def: FastAPI runs it in a worker thread
        texts = request.texts
        if not texts:
            raise HTTPException(422, "texts is empty: send at least one title")
        if len(texts) > max_texts:
            raise HTTPException(413, f"too many texts: {len(texts)}, at most {max_texts} per request")
        for i, text in enumerate(texts):
            if not text.strip():
                raise HTTPException(422, f"texts[{i}] is empty")
            if len(text) > max_chars:
                raise HTTPException(413, f"texts[{i}] is {len(text)} characters long, at most {max_chars}")
        with lock:
            return PredictResponse(predictions=classifier.predict(texts, top_k=top_k))

    return app
