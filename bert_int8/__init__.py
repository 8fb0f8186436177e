"""Shared code of the BERT int8 pipeline: data, tokenizer, model, quantization, metrics, benchmark."""
