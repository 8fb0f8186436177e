"""`bert-int8 score` on this machine (the default engine): one process streams the input file by
file, chunk by chunk, through one Scorer into the part writer. Memory holds one chunk of
records and one part's scored rows, whatever the size of the input."""

from .parts import BadRecord, chunks
from .scorer import Scorer


def run_local(spec, model, files, finished, writer, warn):
    scorer = Scorer(model, spec.threads, spec.batch_size, spec.all_scores)
    if scorer.classifier.weight_range_warning:
        warn(scorer.classifier.weight_range_warning)
    try:
        for file in files:
            for chunk in chunks(file, spec, finished):
                writer.add(scorer(chunk))
    except BadRecord as err:
        writer.flush_before(err.part)
        raise
    writer.flush()
