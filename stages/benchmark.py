"""Stage benchmark: size on disk, weights in memory, latency and throughput of every built model.

Reads:  every backend's models under models_save/ (those quantize built; the PyTorch int8
        recipe in models_save/int8/ is applied to the reference shape too), the student's under
        models_save/student/, the classical floor in models_save/classical/,
        data/prepared/test.tsv (real titles), metrics/evaluate.json (test macro-F1, for the
        trade-off plot)
Writes: metrics/benchmark.json (with the machine: CPU, ISA flags, library versions, and the
        share of the CPU other processes took while each model was timed; headline.student: the
        best student model against the teacher's best; classical: the floor's real-title rate;
        setup.canary: the passes benchmark.canary_slowdown's canary retimed and marked),
        plots/tradeoff.csv (per model: macro-F1, size, latency with its interval)
Params: benchmark.*; model.pretrained, model.finetuned and data.max_seq_length (the reference shape)
Every model is timed in a fresh process of its own, warmed up, in benchmark.repeats passes:
each figure is a median with a 95% interval, and a winner is named only when its interval
clears the runner-up's (else: a tie). The trained models are timed on fixed shapes and on real
test titles; with benchmark.reference_shape also a reference shape with random weights (the
bert-base-chinese shape, or model.finetuned / model.pretrained's own config). Absolute times
depend on the machine; metrics/benchmark.json records it.
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.measure import benchmark


def main():
    benchmark.run_and_write(load_params())


if __name__ == "__main__":
    run_stage(main)
