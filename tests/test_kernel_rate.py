from transformers import BertConfig

from bert_int8.kernel_rate import int8_matmul_gops, linear_ops_per_sequence


def test_bert_base_operation_count():
    # bert-base at 32 tokens: about 5.4 GOP (2 x 85M weights x 32 tokens, plus attention)
    ops = linear_ops_per_sequence(BertConfig(vocab_size=21128, num_labels=10), 32)
    assert 5.4e9 < ops < 5.5e9


def test_int8_matmul_rate_is_measured():
    # one core of any CPU this runs on: more than 10 MOP/s, far less than 100 TOP/s (a wrong
    # operation count or unit would fall outside)
    assert 0.01 < int8_matmul_gops(threads=1, m=64, k=64, n=64, runs=3) < 100_000
