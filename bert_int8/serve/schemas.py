"""The service's request and response types: what /openapi.json states, the limits included."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictStr, StringConstraints, create_model


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


class Chosen(BaseModel):
    by: str = Field(description="what `serve auto` chose by: throughput (--prefer throughput) or latency")
    reason: str = Field(description="the winner's figure, its 95% interval, and how a tie was broken")
    candidates: list[str] = Field(description="the models in the running, best first")
    skipped: dict[str, str] = Field(description="the measured models left out, and why")


class Health(BaseModel):
    status: str
    model: str = Field(description="the model variant: the backend's prefix and the precision (fp32, onnx_int8, ...)")
    path: str = Field(description="the model directory served")
    kind: str = Field(description="its precision: fp32, int8 or bf16")
    backend: str = Field(description="the backend's name (quantize.backends)")
    labels: list[str]
    shares_batches: bool
    inference_thread_alive: bool
    pid: int = Field(description="the worker process that answered (bert-int8 serve --workers)")
    chosen: Chosen | None = Field(None, description="how `serve auto` chose the model; null for a named directory")


class Detail(BaseModel):
    detail: str


def default_max_body_bytes(max_texts, max_chars):
    """The largest body a valid request can need: every title at its longest, each character
    written as JSON escapes (\\uXXXX, two of them for a character beyond U+FFFF: 12 bytes),
    plus quotes, commas and the envelope."""
    return max_texts * (12 * max_chars + 4) + 1024


# A title has a character that is not white space, in every regex dialect that reads the schema:
# Python's \s also counts \x1c-\x1f and \x85, JSON Schema's (ECMA-262) \s also \ufeff, so each
# is named; "\x1d" alone is blank to the service and to a client generating from /openapi.json.
NOT_BLANK = r"[^\s\x1c-\x1f\x85\ufeff]"


def request_model(max_texts, max_chars):
    title = Annotated[StrictStr, StringConstraints(min_length=1, max_length=max_chars, pattern=NOT_BLANK)]
    return create_model(
        "PredictRequest",
        __config__=ConfigDict(extra="forbid", regex_engine="python-re"),
        texts=(Annotated[list[title], Field(min_length=1, max_length=max_texts)], ...),
    )
