"""The distillation loss: a model learns from labels and from another model's logits (the
distill stage's student from its teacher; quantization-aware training's int8 model from its
own FP32 model)."""


def distill_loss(logits, labels, teacher_logits, temperature, soft_weight):
    """(1 - w) * cross-entropy on the labels + w * T^2 * KL(teacher || student) at temperature T,
    averaged over the batch; without teacher logits (dev), the cross-entropy alone."""
    import torch.nn.functional as F

    hard = F.cross_entropy(logits, labels)
    if teacher_logits is None or soft_weight == 0:
        return hard
    t = temperature
    soft = F.kl_div(
        F.log_softmax(logits / t, dim=-1),
        F.log_softmax(teacher_logits / t, dim=-1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - soft_weight) * hard + soft_weight * t * t * soft
