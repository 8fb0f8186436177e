"""Stage load_test: the HTTP service under concurrent load, every served model, in one run.

Reads:  every backend's models under models_save/ (those quantize built),
        data/prepared/test.tsv (titles to send), metrics/benchmark.json (each model's
        own real-title rate, which the service's titles/s is a share of)
Writes: metrics/load_test.json: <model>.c<N> (single-title requests) and <model>.c<N>_batch<K>
        (K titles per request): requests/s, titles/s, latency p50/p95/p99, errors, share of the
        model's rate, the load generator's CPU seconds, the share of the machine's CPU other
        processes took (others_cpu_share) and whether the run was disturbed; each model's
        rss_mib_at_start (after its first answer), rss_mib_after_sweep and
        start_to_first_answer_s; each int8 model's titles/s ratio to the FP32 model of its
        backend at the highest concurrency, beside the models' own ratio; and, under the int8
        model with the most single titles/s at the highest concurrency, <model>.layouts: it
        served as 1 worker x load_test.threads threads against load_test.threads workers x 1
        thread, single titles at the highest concurrency (none when load_test.threads is 1)
Params: load_test.*
Each model gets its own `bert-int8 serve` process on a free 127.0.0.1 port, driven by the load
generator (bert_int8/serve/load_gen.py) in a process of its own; a run that other load on the machine
disturbed (above load_test.disturbed_share) is run once more, then marked.
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.serve import load_testing


def main():
    load_testing.run_and_write(load_params().load_test)


if __name__ == "__main__":
    run_stage(main)
