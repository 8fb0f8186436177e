"""How fast this CPU multiplies int8 matrices in ONNX Runtime: the ceiling for an int8 model.

One MatMulInteger node of a BERT feed-forward shape (tokens x 768 times 768 x 3072), timed on
its own; a whole int8 model's operations per second divided by this rate says how much of the
machine it uses, and so how much a faster engine could still win.
"""

import tempfile
import time
from pathlib import Path

import numpy as np


def int8_matmul_gops(threads, m=2048, k=768, n=3072, runs=10):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    b = numpy_helper.from_array(rng.integers(-127, 128, (k, n), dtype=np.int8), "B")
    zero_a = numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zero")
    zero_b = numpy_helper.from_array(np.array(0, dtype=np.int8), "b_zero")
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["A", "B", "a_zero", "b_zero"], ["Y"])],
        "int8_matmul",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [m, k])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [m, n])],
        initializer=[b, zero_a, zero_b],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matmul.onnx"
        onnx.save(model, path)
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    a = rng.integers(0, 256, (m, k), dtype=np.uint8)
    for _ in range(3):
        session.run(None, {"A": a})
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        session.run(None, {"A": a})
        times.append(time.perf_counter() - start)
    return 2 * m * k * n / float(np.median(times)) / 1e9


def linear_ops_per_sequence(config, seq_len):
    """Multiply-adds x 2 of a BERT classifier's matrix products for one sequence."""
    h, layers = config.hidden_size, config.num_hidden_layers
    i = getattr(config, "intermediate_size", None) or config.hidden_dim  # DistilBERT names it hidden_dim
    per_token = layers * (4 * h * h + 2 * h * i)  # q, k, v, attention output; two feed-forward
    attention = layers * 2 * seq_len * seq_len * h  # scores and weighted sum
    head = h * h + h * config.num_labels  # pooler and classifier on [CLS]
    return 2 * (per_token * seq_len + attention + head)
