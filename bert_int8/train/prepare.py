"""The prepare_data stage's work: raw data to data/prepared/ (splits, classes, tokenizer) and
metrics/data.json."""

from bert_int8.core import atomic, paths
from bert_int8.data.formats import in_label_order, read_dataset
from bert_int8.data.splits import SPLITS, data_report, format_split, require_every_class, stratified_subset
from bert_int8.data.tokenizer import load_pretrained_tokenizer, train_wordpiece
from bert_int8.model.modeling import model_labels


def run(params, say=print):
    """The prepare_data stage: the raw data read and checked, train subset, the tokenizer built
    (or the given model's), the splits, classes and tokenizer written together, the data report."""
    data_p, tok_p = params.data, params.tokenizer
    classes, splits, cut = read_dataset(data_p)
    splits["train"] = stratified_subset(splits["train"], data_p.max_train_samples, data_p.seed)
    if data_p.max_train_samples is not None:  # a small subset can miss a rare class
        require_every_class(classes, splits["train"], "data.max_train_samples", "train")

    if params.model.finetuned:  # its tokenizer, and its label order
        classes, splits = in_label_order(classes, splits, model_labels(params.model.finetuned))
        tokenizer = load_pretrained_tokenizer(params.model.finetuned, data_p.max_seq_length, "model.finetuned")
    elif params.model.pretrained:
        tokenizer = load_pretrained_tokenizer(params.model.pretrained, data_p.max_seq_length)
    else:
        tokenizer = train_wordpiece(
            splits["train"].texts,
            tok_p.vocab_size,
            tok_p.min_frequency,
            tok_p.multi_char,
            data_p.max_seq_length,
            show_progress=True,
        )

    report = data_report(classes, splits, cut)
    lengths = [len(ids) for ids in tokenizer(splits["train"].texts, truncation=True)["input_ids"]]
    report["tokenizer"] = {
        "vocab_size": len(tokenizer),
        "train_tokens_per_title_mean": round(sum(lengths) / len(lengths), 2),
        "train_titles_truncated": sum(1 for n in lengths if n >= data_p.max_seq_length),
    }

    with atomic.output_dir(paths.PREPARED) as out:
        for name in SPLITS:
            (out / f"{name}.tsv").write_text(format_split(splits[name]), encoding="utf-8")
        atomic.write_json(out / "classes.json", classes)
        tokenizer.save_pretrained(out / "tokenizer")
        atomic.write_json(paths.METRICS / "data.json", report)
    say(f"prepared {', '.join(f'{n} {len(splits[n].labels)}' for n in SPLITS)} lines; vocab {len(tokenizer)}")
