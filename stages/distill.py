"""Stage distill: a smaller student of the teacher (bert_int8/distill.py).

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

import shutil

from bert_int8 import atomic, paths, training
from bert_int8.data import load_prepared
from bert_int8.distill import distill
from bert_int8.errors import run_stage
from bert_int8.machine import environment
from bert_int8.modeling import load_fp32, no_load_bars
from bert_int8.params import load_params
from bert_int8.tokenizer import load_tokenizer


def main():
    all_params = load_params()
    params = all_params.distill
    pretrained = bool(all_params.model.pretrained or all_params.model.finetuned)
    tokenizer = load_tokenizer(paths.FP32_DIR)  # bad input stops here, before any launch
    teacher = load_fp32(paths.FP32_DIR)
    _, train_split = load_prepared("train")
    dev_split = load_prepared("dev")[1]
    if params.processes > 1 and not training.launched():
        return training.launch(params.processes, __file__, "distill")
    result = distill(teacher, params, tokenizer, train_split, dev_split, pretrained)
    if result is None:  # not rank 0 of a multi-process run: rank 0 writes
        return
    student, report = result
    with atomic.output_dir(paths.STUDENT_FP32_DIR) as out, no_load_bars():
        student.save_pretrained(out)
        tokenizer.save_pretrained(out)
        atomic.write_json(paths.METRICS / "distill.json", {**report, "environment": environment()})
    shutil.rmtree(paths.DISTILL_CHECKPOINTS, ignore_errors=True)


if __name__ == "__main__":
    run_stage(main)
