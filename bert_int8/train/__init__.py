"""Making models: the prepared splits and tokenizer (prepare), fine-tuning (training, launch for
several processes), the distilled student (distill), and the classical TF-IDF floor."""
