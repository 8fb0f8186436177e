"""Tiny THUCNews-style data written by the tests themselves (no line of the real data set),
the one tiny model shape, and the ways tests wait for another thread or process without
sleeping: a batcher queue they await, and reading a child's output until it says it is ready."""

import asyncio
import atexit
import collections
import functools
import os
import random
import select
import shutil
import tempfile
import time
from pathlib import Path

from bert_int8.core.params import BenchmarkParams
from bert_int8.stats import ranking

CLASSES = [
    "finance",
    "realty",
    "stocks",
    "education",
    "science",
    "society",
    "politics",
    "sports",
    "game",
    "entertainment",
]

# A few made-up words per class, so that a model can learn something from a few hundred titles.
WORDS = [
    ["银行", "利率", "理财", "基金", "贷款"],
    ["楼盘", "房价", "地产", "开盘", "住宅"],
    ["股票", "大盘", "涨停", "个股", "券商"],
    ["高考", "学校", "考生", "留学", "大学"],
    ["芯片", "手机", "科学家", "卫星", "软件"],
    ["警方", "男子", "村民", "事故", "法院"],
    ["外交", "总统", "政府", "会谈", "选举"],
    ["球队", "比赛", "冠军", "球员", "联赛"],
    ["网游", "玩家", "游戏", "副本", "公测"],
    ["电影", "明星", "导演", "演唱会", "综艺"],
]
FILLER = "今日新的将在了和与对为中国上海北京发布最新消息"


def make_titles(n_per_class, seed):
    rng = random.Random(seed)
    rows = []
    for label, words in enumerate(WORDS):
        for _ in range(n_per_class):
            parts = [rng.choice(words), "".join(rng.choices(FILLER, k=rng.randint(2, 8))), rng.choice(words)]
            rows.append((("".join(parts)), label))
    rng.shuffle(rows)
    return rows


def write_raw(dest, n_train=30, n_eval=10, seed=0):
    """Write class.txt, train.txt, dev.txt and test.txt into dest; returns dest."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "class.txt").write_text("\n".join(CLASSES), encoding="utf-8")  # no final newline, as upstream
    for name, n, s in (("train", n_train, seed), ("dev", n_eval, seed + 1), ("test", n_eval, seed + 2)):
        (dest / f"{name}.txt").write_text("".join(f"{t}\t{y}\n" for t, y in make_titles(n, s)), encoding="utf-8")
    return dest


# The one tiny model shape of the tests: 1 layer, 32 wide, 2 heads, 64 in the feed-forward.
# Random-weight models (tiny_config, tiny_bert) and the micro pipeline's trained model have it.
TINY = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
TINY_POSITIONS = 64

# Params small enough that the whole pipeline runs in seconds.
MICRO_PARAMS = {
    "data": {"raw_dir": "data/raw", "max_train_samples": None, "seed": 1, "max_seq_length": 16},
    "tokenizer": {"vocab_size": 300, "min_frequency": 1, "multi_char": False},
    "model": {
        "pretrained": None,
        "finetuned": None,
        "layers": 2,  # two, so that the student (distill) can keep one
        "hidden": TINY["hidden_size"],
        "heads": TINY["num_attention_heads"],
        "intermediate": TINY["intermediate_size"],
        "dropout": 0.0,
    },
    "train": {
        "epochs": 10,
        "batch_size": 16,
        "learning_rate": 0.003,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "seed": 1,
        "threads": 1,
        "processes": 1,
    },
    "distill": {
        "layers": 1,
        "hidden": None,
        "heads": None,
        "intermediate": None,
        "temperature": 2.0,
        "soft_weight": 0.5,
        "epochs": 10,
        "batch_size": 16,
        "learning_rate": 0.003,
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "seed": 1,
        "threads": 1,
        "processes": 1,
    },
    "classical": {"ngram_min": 1, "ngram_max": 2, "hash_bits": 12, "model": "linear_svm", "C": 1.0},
    "quantize": {
        "scheme": "per_tensor",
        "embeddings": "fp32",
        "keep_fp32": [],
        "backends": ["torch", "onnxruntime", "openvino"],
        "calibration_samples": 20,
        "max_f1_drop": 1.0,
        "allow_over_budget": False,
        "qat_steps": 20,
        "qat_learning_rate": 0.001,
        "qat_batch_size": 8,
    },
    "qat_case": {"calibration_samples": 1},
    "evaluate": {"batch_size": 32, "threads": 1, "max_f1_loss": 0.01},
    "benchmark": {
        "threads": 1,
        "seq_len": 16,
        "batch_size": 8,
        "warmup": 1,
        "runs": 5,
        "throughput_runs": 2,
        "min_pass_seconds": 0.0,  # the counts alone: a toy model's pass would otherwise be 0.1 s of calls
        "repeats": 6,
        "processes": 1,  # several per model: tests/test_launcher.py
        "title_samples": 50,
        "title_latency_samples": 20,
        "reference_shape": False,
        # never retimed: on a CI machine shared with other jobs a retime only doubles the time;
        # retiming and marking are tested in test_disturbance and test_service
        "disturbed_share": 1.0,
    },
    "load_test": {
        "concurrency": [1, 4],
        "texts_per_request": [1, 4],
        "seconds": 0.2,
        "threads": 1,
        "max_batch": 16,
        "max_wait_ms": 0.0,
        "max_queue": 1024,
        "disturbed_share": 1.0,
    },
}


def check_call(rows, names, figure, lowest, said):
    """A stage's winners entry is ranking's call over these models on this figure: the wiring.
    The rule itself (a name only when its interval clears every other; else a tie, best first)
    is checked on cases worked by hand in tests/test_ranking.py."""
    assert said == ranking.label(*ranking.call(rows, names, figure, lowest)), said
    assert set(ranking.named(said)) <= set(names)


def tiny_config(arch="bert", vocab_size=120, num_labels=len(CLASSES), **overrides):
    """The tiny shape (TINY) as a transformers config of `arch`: bert, roberta, electra or
    distilbert (whose keys have other names); `overrides` go to the config as they are."""
    from transformers import BertConfig, DistilBertConfig, ElectraConfig, RobertaConfig

    common = dict(vocab_size=vocab_size, num_labels=num_labels)
    if arch == "distilbert":
        sizes = dict(
            dim=TINY["hidden_size"],
            n_layers=TINY["num_hidden_layers"],
            n_heads=TINY["num_attention_heads"],
            hidden_dim=TINY["intermediate_size"],
            max_position_embeddings=TINY_POSITIONS,
            pad_token_id=0,
        )
        return DistilBertConfig(**common, **{**sizes, **overrides})
    if arch == "roberta":  # positions start after the padding index: two more of them
        return RobertaConfig(
            **common, **{**TINY, "max_position_embeddings": TINY_POSITIONS + 2, "pad_token_id": 0, **overrides}
        )
    if arch == "electra":
        return ElectraConfig(
            **common, **{**TINY, "max_position_embeddings": TINY_POSITIONS, "embedding_size": 16, **overrides}
        )
    assert arch == "bert", arch
    return BertConfig(**common, **{**TINY, "max_position_embeddings": TINY_POSITIONS, **overrides})


def tiny_bert(vocab_size=120, num_labels=len(CLASSES), seed=0, **overrides):
    """A tiny BERT classifier (tiny_config) with random weights drawn from `seed`, in eval mode."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    return BertForSequenceClassification(tiny_config("bert", vocab_size, num_labels, **overrides)).eval()


def save_tiny_model_dirs(root):
    """A tiny FP32 model directory and its int8 twin, as the train and quantize stages save them
    (copies of one pair built once per test run: the same seed gives the same bytes anyway;
    built with nothing of the calling test's monkeypatches in its way, torch alone)."""
    root = Path(root)
    for name in ("fp32", "int8"):
        shutil.copytree(_tiny_model_dirs() / name, root / name)
    return root / "fp32", root / "int8"


@functools.cache
def _tiny_model_dirs():
    from bert_int8.backends.torch_int8 import apply_recipe, make_recipe, save_quantized
    from bert_int8.core.atomic import output_dir
    from bert_int8.core.params import QuantizeParams
    from bert_int8.data.tokenizer import train_wordpiece
    from bert_int8.model.modeling import label_maps

    root = Path(tempfile.mkdtemp(prefix="tiny-models-"))
    atexit.register(shutil.rmtree, root, True)
    tok = train_wordpiece([t for t, _ in make_titles(20, 3)], 200, 1, False, 32)
    id2label, label2id = label_maps(CLASSES)
    model = tiny_bert(vocab_size=len(tok), id2label=id2label, label2id=label2id)
    with output_dir(root / "fp32") as out:
        model.save_pretrained(out)
        tok.save_pretrained(out)
    recipe = make_recipe(QuantizeParams())
    with output_dir(root / "int8") as out:
        save_quantized(apply_recipe(model, recipe), tok, recipe, out)
    return root


def tiny_models_in_every_backend(root):
    """The tiny model in every backend under root/models_save, laid out as the pipeline lays
    out models_save/ (save_tiny_model_dirs' int8 is rebuilt alike); returns root."""
    from bert_int8.core.params import QuantizeParams
    from bert_int8.data.tokenizer import load_tokenizer
    from bert_int8.model.modeling import load_fp32
    from bert_int8.quantize.int8_models import build_int8_models

    fp32, _ = save_tiny_model_dirs(Path(root) / "models_save")
    params = QuantizeParams(backends=["torch", "onnxruntime", "openvino"], max_f1_drop=None, calibration_samples=20)
    titles = [t for t, _ in make_titles(2, 9)]
    build_int8_models(params, load_fp32(fp32), load_tokenizer(fp32), None, None, titles, Path(root) / "models_save")
    return Path(root)


def full_path_probabilities(model_dir, titles, batch_size):
    """What the transformers path answers: its tokenizer, predict_logits and the model's torch
    call (batches of `batch_size` titles sorted by length)."""
    import numpy as np

    from bert_int8.backends.model_dir import ModelDir
    from bert_int8.data.tokenizer import load_tokenizer
    from bert_int8.model.modeling import predict_logits

    found = ModelDir.open(model_dir)
    logits = predict_logits(found.load(threads=1), load_tokenizer(found.path), titles, batch_size)
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class JoinCount(collections.deque):
    """A DynamicBatcher's job queue that counts the requests joining it, so that a test awaits
    `reach(n)` (n requests queued, some maybe taken since) instead of polling the clock. Jobs
    join in the event loop's thread (DynamicBatcher.submit), where `reach` waits too."""

    def __init__(self):
        super().__init__()
        self.joined, self._event = 0, None

    def append(self, job):
        super().append(job)
        self.joined += 1
        if self._event is not None:
            self._event.set()

    async def reach(self, n, timeout=30):
        async def joined():
            while self.joined < n:
                self._event = asyncio.Event()
                await self._event.wait()

        await asyncio.wait_for(joined(), timeout)


def count_joins(batcher):
    """Give `batcher` (before any request) a JoinCount queue; returns it."""
    with batcher.cond:
        assert not batcher.jobs
        batcher.jobs = JoinCount()
    return batcher.jobs


def kill_after_first_epoch(stage, workdir, per_epoch):
    """Start a training stage (train, distill) as DVC would, and kill it once it has said a step
    past its first epoch, which it says after that epoch's checkpoint was saved; returns what it
    said. The pipe holds one page: with the other epochs' lines left unread, the stage blocks on
    its output long before it could finish, so the kill finds it training."""
    import fcntl
    import re
    import subprocess
    import sys

    from conftest import REPO

    env = {"PYTHONPATH": str(REPO), "PATH": os.environ["PATH"]}
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "stages" / f"{stage}.py")],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    fcntl.fcntl(proc.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
    try:
        return read_until(
            proc.stdout, lambda text: any(int(n) > per_epoch for n in re.findall(rf"{stage}: step (\d+)/", text))
        )
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def read_until(pipe, done, timeout=120):
    """Read a child's output `pipe` (binary) as it comes until `done(text so far)` holds, or
    `done` is a string that has appeared; blocks on the pipe (select with the time left), never
    sleeps. Returns the text read; fails at end of file (the child exited) or after `timeout` s."""
    if isinstance(done, str):
        marker = done

        def done(text):
            return marker in text

    fd, data, deadline = pipe.fileno(), b"", time.monotonic() + timeout
    while not done(data.decode("utf-8", "replace")):
        left = deadline - time.monotonic()
        ready = left > 0 and select.select([fd], [], [], left)[0]
        assert ready, f"not said within {timeout} s; it said: {data.decode('utf-8', 'replace')[-2000:]}"
        chunk = os.read(fd, 1 << 16)
        assert chunk, f"the process closed its output first; it said: {data.decode('utf-8', 'replace')[-2000:]}"
        data += chunk
    return data.decode("utf-8", "replace")


# Benchmark params for toy models: one process per model (tests/test_launcher.py and
# tests/test_disturbance.py time several), never retimed (retiming and marking are
# test_disturbance's): on a shared machine a retime only costs time
TOY_BENCHMARK = BenchmarkParams(
    threads=1,
    seq_len=8,
    batch_size=4,
    warmup=1,
    runs=3,
    throughput_runs=1,
    min_pass_seconds=0.0,  # the call counts alone (the pass duration: test_timing's test_a_pass_goes_on_...)
    repeats=6,
    processes=1,
    disturbed_share=1.0,
)
