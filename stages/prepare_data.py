"""Stage prepare_data: validate the raw THUCNews files, subset train, build the tokenizer.

Reads:  {data.raw_dir}: THUCNews (class.txt, train/dev/test.txt) or, by data.format, CSV, TSV,
        JSON Lines files or a Hugging Face dataset (bert_int8/data/formats.py)
Writes: data/prepared/{train,dev,test}.tsv, classes.json, tokenizer/ ; metrics/data.json
Params: data.*, tokenizer.* (used only when no model is given), model.pretrained, model.finetuned
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.train.prepare import run


def main():
    run(load_params())


if __name__ == "__main__":
    run_stage(main)
