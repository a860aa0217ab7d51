"""Built-in task ``posttrain``: GRPO with several rewards and a KL to the reference, on a tiny
pre-trained character language model (see :mod:`paretolab.tasks.posttrain.task`)."""

from paretolab.tasks.posttrain.task import PostTrainTask

__all__ = ["PostTrainTask"]
