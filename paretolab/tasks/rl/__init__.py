"""Built-in task ``rl``: PPO on mo-gymnasium environments, one loss per reward component."""

from paretolab.tasks.rl.task import RLTask

__all__ = ["RLTask"]
