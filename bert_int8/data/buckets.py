"""Length buckets: a batch padded up to the next of a few lengths instead of to its longest
title, for runtimes that pay for every new input shape (OpenVINO: unbucketed, each new length's
first call took 8.65 ms against 1.45 ms warm, one real title per call on a Zen 4 EPYC). With
buckets a service meets a handful of shapes, all warm after the warm-up.

A backend declares whether it wants them (Backend.length_buckets); quantize writes the lengths
into each of that backend's model directories (FILE), so `predict`, `serve`, evaluate and the
benchmark pad the same way without params.yaml. Padding adds masked positions only: the logits
stay those of the unpadded title (tests/test_buckets.py). Lean: no torch, no transformers.
"""

import json
from pathlib import Path

from bert_int8.core.atomic import write_json
from bert_int8.core.errors import PipelineError

FILE = "length_buckets.json"
STEP = 8  # the default lengths: multiples of 8 up to the tokenizer's max length


def default_lengths(max_length, step=STEP):
    """Multiples of `step` up to `max_length` (the tokenizer's model_max_length, which training
    sets to data.max_seq_length), and `max_length` itself when it is not one."""
    lengths = list(range(step, max_length + 1, step))
    if not lengths or lengths[-1] != max_length:
        lengths.append(max_length)
    return tuple(lengths)


def lengths_for(param, max_length):
    """The lengths quantize.length_buckets asks for (null: the default ones; []: none, so None),
    none beyond `max_length` (no title is longer: the tokenizer truncates) and `max_length`
    closing them, so that every title has a bucket."""
    if param is None:
        return default_lengths(max_length)
    if not param:
        return None
    return tuple(n for n in param if n < max_length) + (max_length,)


def width(length, lengths):
    """The padded width of a batch whose longest title has `length` tokens: the first bucket
    that holds it; `length` itself without buckets or beyond the last one."""
    for n in lengths or ():
        if n >= length:
            return n
    return length


def write(model_dir, lengths):
    write_json(Path(model_dir) / FILE, {"lengths": list(lengths)})


def read(model_dir):
    """The lengths recorded in `model_dir` (ascending), or None where it records none; one line
    naming the file when it is not a list of ascending positive lengths."""
    path = Path(model_dir) / FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PipelineError(f"{path}: cannot read it ({err}); rebuild it with `dvc repro -f -s quantize`") from None
    lengths = data.get("lengths") if isinstance(data, dict) else None
    if (
        not isinstance(lengths, list)
        or not lengths
        or not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in lengths)
        or lengths != sorted(set(lengths))
    ):
        raise PipelineError(f"{path}: 'lengths' is not a list of ascending positive token counts")
    return tuple(lengths)
