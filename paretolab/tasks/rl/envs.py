"""mo-gymnasium environments for the ``rl`` task: the lazy import, names of reward components,
observation encoding and the environments' published Pareto fronts.

mo-gymnasium (Felten et al., "A Toolkit for Reliable Benchmarking and Research in Multi-Objective
Reinforcement Learning", NeurIPS 2023 Datasets and Benchmarks) is an optional dependency
(``pip install 'paretolab[rl]'``): it is imported only when an RL task is built.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from paretolab.errors import TaskError

#: reward components' names of the environments whose reward vector is documented, by id prefix
COMPONENTS: dict[str, tuple[str, ...]] = {
    "deep-sea-treasure": ("treasure", "time"),
    "resource-gathering": ("death", "gold", "gem"),
    "fruit-tree": ("protein", "carbs", "fats", "vitamins", "minerals", "water"),
    "four-room": ("blue", "green", "red"),
    "minecart": ("ore1", "ore2", "fuel"),
}
_ONE_HOT_LIMIT = 1024  # integer observations with at most this many values in all are one-hot coded


def import_mo_gymnasium() -> Any:
    """The ``mo_gymnasium`` module, or a :class:`TaskError` saying how to install it."""
    try:
        import mo_gymnasium
    except ImportError:
        raise TaskError("the rl task needs mo-gymnasium, which is not installed", where="task",
                        hint="pip install 'paretolab[rl]'") from None
    return mo_gymnasium


def make_env(env_id: str, max_episode_steps: int | None = None) -> Any:
    """One mo-gymnasium environment (a :class:`TaskError` for an unknown id or continuous actions)."""
    mog = import_mo_gymnasium()
    import gymnasium

    kwargs = {"max_episode_steps": int(max_episode_steps)} if max_episode_steps else {}
    try:
        with warnings.catch_warnings():  # gymnasium's float32 casting notes on the reward space
            warnings.simplefilter("ignore", UserWarning)
            env = mog.make(env_id, **kwargs)
    except gymnasium.error.Error as exc:
        raise TaskError(f"mo-gymnasium cannot make {env_id!r}: {str(exc).splitlines()[0]}",
                        where="task.params.env",
                        hint="name a registered mo-gymnasium id, e.g. deep-sea-treasure-concave-v0") from None
    if not isinstance(env.action_space, gymnasium.spaces.Discrete):
        raise TaskError(f"{env_id!r} has {type(env.action_space).__name__} actions; the rl task "
                        "needs discrete actions", where="task.params.env")
    return env


def component_names(env_id: str, env: Any, given: Sequence[str] | None) -> tuple[str, ...]:
    """The reward components' names: ``given``, the documented names, or ``reward0``, ``reward1``..."""
    size = int(np.prod(env.unwrapped.reward_space.shape))
    if given is not None:
        names = tuple(str(n) for n in given)
        if len(names) != size or len(set(names)) != size:
            raise TaskError(f"components must be {size} distinct names for {env_id!r}, got {list(names)}",
                            where="task.params.components")
        return names
    for prefix, names in COMPONENTS.items():
        if env_id.startswith(prefix) and len(names) == size:
            return names
    return tuple(f"reward{i}" for i in range(size))


class ObservationEncoder:
    """Observation -> float vector: bounded integer boxes (grid positions, counters) one-hot coded
    per coordinate, other boxes scaled to [0, 1] where bounded, discrete spaces one-hot."""

    def __init__(self, space: Any):
        import gymnasium

        self.offsets: np.ndarray | None = None
        self.sizes: np.ndarray | None
        if isinstance(space, gymnasium.spaces.Discrete):
            self.low = np.array([space.start])
            self.sizes = np.array([space.n])
        elif isinstance(space, gymnasium.spaces.Box):
            self.low = np.asarray(space.low, dtype=np.float64).ravel()
            high = np.asarray(space.high, dtype=np.float64).ravel()
            bounded = np.isfinite(self.low).all() and np.isfinite(high).all()
            integer = np.issubdtype(space.dtype, np.integer)
            self.sizes = (high - self.low + 1).astype(np.int64) if bounded and integer else None
            if self.sizes is not None and self.sizes.sum() > _ONE_HOT_LIMIT:
                self.sizes = None
            self.span = np.where(np.isfinite(high - self.low) & (high > self.low), high - self.low, 1.0)
            if not bounded:
                self.low = np.where(np.isfinite(self.low), self.low, 0.0)
        else:
            raise TaskError(f"the rl task cannot encode {type(space).__name__} observations",
                            where="task.params.env")
        if self.sizes is not None:
            self.offsets = np.concatenate([[0], np.cumsum(self.sizes)[:-1]])
            self.dim = int(self.sizes.sum())
        else:
            self.dim = int(self.low.size)

    def __call__(self, observations: Sequence[Any]) -> torch.Tensor:
        """A (N, dim) float tensor of N observations."""
        obs = np.stack([np.asarray(o, dtype=np.float64).ravel() for o in observations])
        if self.offsets is None:
            return torch.as_tensor((obs - self.low) / self.span, dtype=torch.float32)
        assert self.sizes is not None  # one-hot offsets are set only with the sizes
        index = np.clip(obs - self.low, 0, self.sizes - 1).astype(np.int64) + self.offsets
        out = np.zeros((len(obs), self.dim), dtype=np.float32)
        np.put_along_axis(out, index, 1.0, axis=1)
        return torch.from_numpy(out)


def known_front(env_id: str, gamma: float = 1.0) -> np.ndarray | None:
    """The environment's published Pareto front of (undiscounted, with ``gamma`` 1) returns, one
    row per point, or None when mo-gymnasium does not give one."""
    env = make_env(env_id)
    method = getattr(env.unwrapped, "pareto_front", None)
    if method is None:
        return None
    try:
        front = method(gamma=gamma)
    except TypeError:
        front = method()
    return np.asarray(front, dtype=np.float64)
