import itertools

from transformers import BertConfig

from bert_int8.measure import kernel_rate
from bert_int8.measure.kernel_rate import int8_matmul_gops, linear_ops_per_sequence


def test_bert_base_operation_count():
    # by hand, bert-base (12 layers, 768 hidden, 3072 feed-forward, 10 labels) at 32 tokens:
    # Linears 32 * 12 * (4 * 768^2 + 2 * 768 * 3072) = 2,717,908,992 multiply-adds;
    # attention scores and weighted sum 12 * 2 * 32^2 * 768 = 18,874,368; pooler and classifier
    # 768^2 + 768 * 10 = 597,504; two operations per multiply-add
    ops = linear_ops_per_sequence(BertConfig(vocab_size=21128, num_labels=10), 32)
    assert ops == 2 * (2_717_908_992 + 18_874_368 + 597_504)


def test_int8_matmul_rate_is_operations_over_the_median_time(monkeypatch):
    # a clock that advances 0.25 s per call: each timed run takes 0.25 s, so a 64^3 product
    # (2 * 64^3 = 524,288 operations) runs at 524,288 / 0.25 s = 0.002097152 GOP/s
    ticks = itertools.count(0, 0.25)
    monkeypatch.setattr(kernel_rate.time, "perf_counter", lambda: next(ticks))
    assert int8_matmul_gops(threads=1, m=64, k=64, n=64, runs=3) == 524_288 / 0.25 / 1e9
