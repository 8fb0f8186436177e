"""The README's results section, generated from the committed metrics/*.json.

    python scripts/results_table.py           # print it
    python scripts/results_table.py --write   # replace the block between the markers in README.md

tests/test_readme.py fails when README.md and the committed metrics disagree, so every figure
in that block comes from a metrics file of the same commit.
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
METRICS = ROOT / "metrics"
START, END = "<!-- results:start (scripts/results_table.py --write) -->", "<!-- results:end -->"
MIB = 1024 * 1024
NAMES = {
    "fp32": "PyTorch FP32",
    "bf16": "PyTorch BF16",
    "int8": "PyTorch int8 (torch.ao dynamic)",
    "onnx_fp32": "ONNX Runtime FP32",
    "onnx_int8": "ONNX Runtime int8 (dynamic)",
    "openvino_fp32": "OpenVINO FP32",
    "openvino_bf16": "OpenVINO BF16",
    "openvino_int8": "OpenVINO int8 (NNCF static)",
}


def load(name):
    path = METRICS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def machine(setup):
    versions = ", ".join(f"{k} {setup[k]}" for k in ("torch", "onnxruntime", "openvino", "nncf") if setup.get(k))
    return (
        f"{setup['cpu']}, {setup['logical_cpus']} logical CPUs, ISA: {setup['isa']}; BF16 {setup['bf16']}; "
        f"{setup['threads']} threads; {versions}"
    )


def trained_table(ev, bench, train, load_test):
    setup = bench["setup"]
    lines = [
        f"Trained default model ({train['train_examples']:,} titles, {train['epochs']:g} epochs, "
        f"{train['wall_seconds'] / 60:.1f} min of training; test split, {ev['test_examples']:,} titles; "
        f"timings at sequence length {setup['seq_len']}):",
        "",
        f"| model | weights MiB | test accuracy | macro-F1 | agrees with FP32 | batch-1 p50 ms | "
        f"batch-{setup['batch_size']} seq/s | real titles/s |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, b in bench["trained"].items():
        e, r = ev[name], bench["real_titles"][name]
        agree = ev.get(f"{name}_vs_fp32", {}).get("prediction_agreement", 1.0)
        lines.append(
            f"| {NAMES[name]} | {b['file_bytes'] / MIB:.1f} | {e['accuracy']:.4f} | {e['macro_f1']:.4f} | "
            f"{agree:.2%} | {b['latency_ms_p50']:.2f} | {b['throughput_seq_per_s']:.0f} | "
            f"{r['dynamic_titles_per_s']:.0f} |"
        )
    return lines


def load_table(load_test):
    """The service under load: titles/s (p99 ms) per concurrency, single titles and batches."""
    setup = load_test["setup"]
    runs = [f"c{c}" for c in setup["concurrency"]] + [
        f"c{c}_batch{k}" for k in setup["texts_per_request"] if k != 1 for c in setup["concurrency"]
    ]
    heads = [r.replace("_batch", " x ") for r in runs]
    lines = [
        f"The service (`bert-int8 serve`, {setup['threads']} threads, dynamic batching up to {setup['max_batch']} "
        f"titles or {setup['max_wait_ms']:g} ms) under load: titles/s (p99 ms) at N concurrent clients "
        "(cN: one title per request; cN x K: K titles per request), and at the most clients, the share of "
        "the model's own real-title rate; the load generator used "
        f"{max(r['client_cpu_seconds'] for m, v in load_test.items() if m != 'setup' for r in v.values() if isinstance(r, dict) and 'client_cpu_seconds' in r):.1f} "
        "CPU seconds at most per run:",
        "",
        "| model | shares batches | "
        + " | ".join(heads)
        + f" | share of model rate ({runs[len(setup['concurrency']) - 1]}) |",
        "| --- | --- | " + " | ".join("---" for _ in runs) + " | --- |",
    ]
    top = runs[len(setup["concurrency"]) - 1]
    for name, v in load_test.items():
        if name == "setup":
            continue
        shares = "yes" if v["shares_batches"] else "no (dynamic int8)"
        cells = [
            f"{v[r]['titles_per_s']:.0f} ({v[r]['latency_ms_p99']})" if v[r]["requests"] else "errors" for r in runs
        ]
        lines.append(f"| {NAMES[name]} | {shares} | " + " | ".join(cells) + f" | {v[top]['share_of_model_rate']:.0%} |")
    return lines


def shape_label(bench):
    """What the reference shape was: bert-base-chinese's, or model.finetuned / model.pretrained's."""
    return f"{bench.get('reference_shape', {}).get('config', 'bert-base-chinese')} shape"


def shape_table(bench):
    base, batch = bench["bert_base_shape"], bench["setup"]["batch_size"]
    lines = [
        f"{shape_label(bench)} (random weights, the same recipes; ratios from one run; the best baseline is "
        "the fastest non-int8 model, FP32 or BF16, of the same run):",
        "",
        f"| model | weights MiB | size vs FP32 | batch-1 p50 ms | batch-{batch} seq/s | batch-1 latency vs PyTorch FP32 | "
        f"batch-{batch} throughput vs PyTorch FP32 | vs best baseline (batch 1 / batch {batch}) | "
        "share of the int8 GEMM rate |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, b in base.items():
        v = b.get("vs_fp32", {"file_bytes": 1, "latency_p50": 1, "throughput": 1})
        best = b.get("vs_best_baseline")
        best = f"{best['latency_p50']:.2f}x / {best['throughput']:.2f}x" if best else "-"
        share = f"{b['share_of_int8_matmul_rate']:.0%}" if "share_of_int8_matmul_rate" in b else "-"
        lines.append(
            f"| {NAMES[name]} | {b['file_bytes'] / MIB:.1f} | {v['file_bytes']:.1%} | {b['latency_ms_p50']:.1f} | "
            f"{b['throughput_seq_per_s']:.1f} | {v['latency_p50']:.2f}x | {v['throughput']:.2f}x | {best} | {share} |"
        )
    return lines


def claims(ev, bench, data):
    """The sentences the README states about the figures above, each computed here."""
    setup, batch = bench["setup"], bench["setup"]["batch_size"]
    out = []
    for group, label in (("trained", "trained default"), ("bert_base_shape", shape_label(bench))):
        w = bench["winners"].get(group)
        if w:
            out.append(
                f"- **Fastest on this machine, {label}:** batch 1 {NAMES[w['batch_1']]}, batch {batch} "
                f"{NAMES[w[f'batch_{batch}']]}; best int8 {NAMES[w['int8_batch_1']]} at batch 1 and "
                f"{NAMES[w[f'int8_batch_{batch}']]} at batch {batch}; best baseline {NAMES[w['baseline_batch_1']]} "
                f"at batch 1 and {NAMES[w[f'baseline_batch_{batch}']]} at batch {batch}."
            )
    base = bench.get("bert_base_shape", {})
    if base:
        w = bench["winners"]["bert_base_shape"]
        best = base[w[f"int8_batch_{batch}"]]
        out.append(
            f"- **Against the best baseline, not only FP32:** on the {shape_label(bench)} the fastest int8 "
            f"({NAMES[w[f'int8_batch_{batch}']]}) gives {best['vs_best_baseline']['throughput']:.2f}x the batch-{batch} "
            f"throughput of {NAMES[best['vs_best_baseline']['throughput_baseline']]} and "
            f"{best['vs_fp32']['throughput']:.2f}x that of PyTorch FP32; it runs at "
            f"{best['share_of_int8_matmul_rate']:.0%} of the {bench['kernel']['int8_matmul_gops']:.0f} GOP/s that one "
            f"int8 matrix product reaches here (ONNX Runtime MatMulInteger, 2048x768 by 768x3072)."
        )
        smallest = min((n for n in base if n.endswith("int8")), key=lambda n: base[n]["file_bytes"])
        out.append(
            f"- **Bytes:** the reference's PyTorch recipe gives {base['fp32']['file_bytes'] / MIB:.0f} -> "
            f"{base['int8']['file_bytes'] / MIB:.1f} MiB ({base['int8']['vs_fp32']['file_bytes']:.1%}: the embedding "
            f"tables stay FP32); the smallest int8 artifact is {NAMES[smallest]} at "
            f"{base[smallest]['file_bytes'] / MIB:.1f} MiB ({base[smallest]['vs_fp32']['file_bytes']:.1%} of FP32). "
            f"Counted from the state_dict, the PyTorch int8 weights take {base['int8']['weight_bytes'] / MIB:.1f} MiB "
            f'in memory; summing `parameters()` would miss every packed int8 weight (the reference\'s "63.55 MB").'
        )
    int8 = [n for n in ev if n.endswith("int8") and n in NAMES]
    drops = ", ".join(
        f"{NAMES[n]} {ev[f'{n}_vs_fp32']['macro_f1_drop']:+.4f} ({ev[f'{n}_vs_fp32']['prediction_agreement']:.2%} "
        "agreement)"
        for n in int8
    )
    out.append(f"- **Accuracy kept (test split):** macro-F1 drop against FP32: {drops}.")
    bf16 = [n for n in ev if n.endswith("bf16") and n in NAMES]
    if bf16:
        out.append(
            "- **BF16:** "
            + ", ".join(
                f"{NAMES[n]} agrees with FP32 on {ev[f'{n}_vs_fp32']['prediction_agreement']:.2%} of test titles"
                for n in bf16
            )
            + "."
        )
    else:
        out.append(f"- **BF16:** {setup['bf16']} on this CPU, so no BF16 model was timed.")
    dyn = {n: r["dynamic_over_padded"] for n, r in bench["real_titles"].items()}
    out.append(
        f"- **Padding:** on real test titles, length-sorted batches padded per batch run {min(dyn.values()):.2f}x to "
        f"{max(dyn.values()):.2f}x the titles/s of the same models padded to {setup['seq_len']} tokens (titles "
        f"average {data['tokenizer']['train_tokens_per_title_mean']} tokens)."
    )
    return out


def seed_claim(seeds):
    """The seed-to-seed spread (scripts/seed_spread.py) and where a retrain elsewhere should land."""
    sp, n = seeds["spread"], len(seeds["seeds"])
    acc, f1 = sp["accuracy"], sp["macro_f1"]
    drops = ", ".join(
        f"{NAMES[k.removesuffix('_f1_drop')]} {sp[k]['mean']:+.4f} ± {sp[k]['std']:.4f}"
        for k in sp
        if k.endswith("_f1_drop")
    )
    line = (
        f"- **Seed to seed ({n} seeds: {', '.join(seeds['seeds'])}; same machine, versions, params and prepared "
        f"data; code of commits {', '.join(sorted({r['commit'] for r in seeds['seeds'].values()}))}):** "
        f"test accuracy {acc['mean']:.4f} ± {acc['std']:.4f}, macro-F1 {f1['mean']:.4f} ± {f1['std']:.4f} "
        f"(mean ± sample std); int8 macro-F1 drop {drops}. A retrain on other hardware should land within "
        f"about two std of the mean: test accuracy {acc['mean'] - 2 * acc['std']:.4f} to {acc['mean'] + 2 * acc['std']:.4f}."
    )
    other = seeds.get("cross_machine")
    if other and acc["std"]:
        line += (
            f" The {other['cpu']} retrain of {other['source']} gave {other['test_accuracy']:.4f} against "
            f"{other['committed_test_accuracy']:.4f} committed then, a difference of "
            f"{abs(other['test_accuracy'] - other['committed_test_accuracy']) / acc['std']:.1f} std."
        )
    return line


def render():
    ev, bench, train, data, load_test = (load(n) for n in ("evaluate", "benchmark", "train", "data", "load_test"))
    seeds = load("seed_spread")
    lines = [f"Measured on: {machine(bench['setup'])}.", ""]
    lines += trained_table(ev, bench, train, load_test)
    if load_test:
        lines += [""] + load_table(load_test)
    if "bert_base_shape" in bench:
        lines += [""] + shape_table(bench)
    lines += [""] + claims(ev, bench, data) + ([seed_claim(seeds)] if seeds else [])
    return "\n".join(lines) + "\n"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--write" not in argv:
        print(text, end="")
        return
    readme = ROOT / "README.md"
    old = readme.read_text(encoding="utf-8")
    head, rest = old.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}{END}{tail}", encoding="utf-8")


if __name__ == "__main__":
    main()
