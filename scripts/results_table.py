"""Print the README's results tables (Markdown) from the committed metrics/*.json."""

import json
from pathlib import Path

METRICS = Path(__file__).resolve().parent.parent / "metrics"
MIB = 1024 * 1024
NAMES = {
    "fp32": "PyTorch FP32",
    "int8": "PyTorch int8 (torch.ao dynamic)",
    "onnx_fp32": "ONNX Runtime FP32",
    "onnx_int8": "ONNX Runtime int8 (dynamic)",
}


def load(name):
    return json.loads((METRICS / f"{name}.json").read_text(encoding="utf-8"))


def main():
    ev, bench, train, data = load("evaluate"), load("benchmark"), load("train"), load("data")
    load_test = load("load_test") if (METRICS / "load_test.json").exists() else {}
    setup = bench["setup"]
    print(
        f"Trained default model ({train['train_examples']:,} titles, {train['epochs']:g} epochs, "
        f"{train['wall_seconds'] / 60:.1f} min of training; test split, {ev['test_examples']:,} titles; "
        f"timings: {setup['threads']} threads, {setup['cpu']}, sequence length {setup['seq_len']}):\n"
    )
    print(
        "| model | weights MiB | test accuracy | macro-F1 | agrees with FP32 | batch-1 p50 ms | batch-64 seq/s | "
        "real titles/s | HTTP req/s (p95 ms) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in bench["trained"]:
        b, e, r = bench["trained"][name], ev[name], bench["real_titles"][name]
        agree = ev.get(f"{name}_vs_fp32", {}).get("prediction_agreement", 1.0)
        lt = load_test.get(name)
        http = f"{lt['requests_per_s']:.0f} ({lt['latency_ms_p95']:.1f})" if lt else "-"
        print(
            f"| {NAMES[name]} | {b['file_bytes'] / MIB:.1f} | {e['accuracy']:.4f} | {e['macro_f1']:.4f} | "
            f"{agree:.2%} | {b['latency_ms_p50']:.2f} | {b['throughput_seq_per_s']:.0f} | "
            f"{r['dynamic_titles_per_s']:.0f} | {http} |"
        )
    if "bert_base_shape" in bench:
        print("\nbert-base-chinese shape (random weights; same quantization; ratios from one run):\n")
        print(
            "| model | weights MiB | size vs FP32 | batch-1 latency vs PyTorch FP32 | vs fastest FP32 | "
            "batch-64 throughput vs PyTorch FP32 |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
        for name, b in bench["bert_base_shape"].items():
            v = b.get("vs_fp32", {"file_bytes": 1, "latency_p50": 1, "throughput": 1})
            best = b.get("vs_best_fp32", {}).get("latency_p50")
            best = f"{best:.2f}x" if best else "-"
            print(
                f"| {NAMES[name]} | {b['file_bytes'] / MIB:.1f} | {v['file_bytes']:.1%} | {v['latency_p50']:.2f}x | "
                f"{best} | {v['throughput']:.2f}x |"
            )
    base, kernel = bench.get("bert_base_shape", {}), bench.get("kernel")
    if kernel:
        parts = [
            f"{NAMES[n]} {base[n]['gops']:.0f} GOP/s ({base[n]['share_of_int8_matmul_rate']:.0%})"
            for n in ("int8", "onnx_int8")
            if n in base
        ]
        print(
            f"\nAt batch {setup['batch_size']}, against the {kernel['int8_matmul_gops']:.0f} GOP/s of one int8 matrix "
            f"product (ONNX Runtime MatMulInteger, 2048x768 by 768x3072) on this machine: {', '.join(parts)}."
        )
    dyn = {n: r["dynamic_over_padded"] for n, r in bench["real_titles"].items()}
    print(
        f"\nOn real test titles, length-sorted batches padded per batch run "
        f"{min(dyn.values()):.2f}x to {max(dyn.values()):.2f}x the titles/s of the same models padded to "
        f"{setup['seq_len']} tokens (titles average {data['tokenizer']['train_tokens_per_title_mean']} tokens)."
    )


if __name__ == "__main__":
    main()
