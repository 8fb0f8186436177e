"""What every params section is: strict, frozen, no unknown keys; and the one rule two sections
and training share (a global batch divides over its processes)."""

from pydantic import BaseModel, ConfigDict

from bert_int8.core.errors import PipelineError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def per_process_batch(batch_size, processes, over=None, error=PipelineError, section="train"):
    """Each process's share of the global batch; `error` if it does not divide evenly (params
    check <section>.processes; training checks the world size a launcher gave it). `section`:
    whose batch_size it is (train, distill)."""
    if batch_size % processes:
        raise error(
            f"{section}.batch_size ({batch_size}, the global batch) must divide evenly over "
            f"{over or section + '.processes'} ({processes})"
        )
    return batch_size // processes
