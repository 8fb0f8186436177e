"""Stage distill: a smaller student of the teacher (bert_int8/train/distill.py).

Reads:  models_save/fp32/ (the teacher: trained here, model.pretrained fine-tuned, or
        model.finetuned passed on), data/prepared/{train,dev}.tsv
Writes: models_save/student/fp32/ (save_pretrained, with the tokenizer), metrics/distill.json
        (the student's shape, where its tensors came from, dev accuracy, the machine),
        dvclive-distill/ (training loss and dev accuracy: DVC plots)
Params: distill.*; model.pretrained and model.finetuned (whether the teacher was pretrained
        elsewhere: distill.learning_rate null takes 5e-5 then, 5e-4 for the default's student)
distill.processes > 1 reruns this script as N processes (DDP), as train does. Checkpoints go to
models_save/checkpoints-distill/ each epoch; a rerun after a kill resumes from the last one when
params, data and teacher are unchanged, and the directory is removed on success.
"""

from bert_int8.core.errors import run_stage
from bert_int8.core.params import load_params
from bert_int8.train import distill


def main():
    distill.run(load_params(), __file__)


if __name__ == "__main__":
    run_stage(main)
