"""Production: load a picked configuration (``pick.yaml``) and train it again.

:func:`load_pick` reads the visible fields of ``pick.yaml`` (the weights, the balancer, the
training hyperparameters, the task, the loss groups, the seed and the steps: editing them
changes what is trained) into a :class:`Pick`. ``Pick.recipe()`` is the trial's
:class:`~paretolab.recipe.Recipe`, the same one the trainer runs, so a user's own loop
reproduces the trial; :func:`retrain` is ``paretolab train``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from paretolab.errors import UserError
from paretolab.recipe import Recipe
from paretolab.search_space import TrialConfig

#: the TrialConfig fields pick.yaml must give (``eval_every`` and ``extra`` have defaults)
_REQUIRED = ("weights", "balancer", "train", "task", "task_params", "loss_groups", "seed", "steps")


class BalancerConfig(dict):
    """A picked balancer as ``Balancer.to_config()`` writes it: ``method``, ``losses``,
    ``weights``, ``settings`` (so ``Balancer.from_config(pick.balancer)`` rebuilds it).

    Calling it builds the balancer, optionally for ``loss_names`` in another order.
    """

    base_dir: Path | None = None  # where a balancer named by file path (``file.py:Class``) starts

    def __call__(self, loss_names: Sequence[str] | None = None) -> Any:
        from paretolab.balancers import make_balancer

        own = list(self["losses"])
        names = list(loss_names) if loss_names is not None else own
        if sorted(names) != sorted(own):
            raise UserError(f"the pick balances losses {own}, not {names}")
        try:
            return make_balancer(self["method"], names, self["weights"], self["settings"],
                                 base_dir=self.base_dir)
        except (KeyError, ValueError) as exc:
            raise UserError(f"cannot rebuild balancer {self.get('method')!r}: "
                            f"{exc.args[0] if exc.args else exc}") from None


@dataclass
class Pick:
    """A picked configuration, loaded from ``pick.yaml``, for a user's own training loop."""

    config: TrialConfig
    study: str = ""
    trial: int | None = None
    objectives: dict[str, float] = field(default_factory=dict)
    directions: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    knobs: dict[str, Any] = field(default_factory=dict)
    base_dir: Path | None = None
    source: Path | None = None  # the pick.yaml it was read from
    preference: dict[str, float] | None = None  # a one-run point: the preference it was evaluated at
    checkpoint: Path | None = None  # a one-run point: its model's state dict (beside pick.yaml)

    def recipe(self, device: str = "auto") -> Recipe:
        """The trial's training recipe (seeding, optimizer, lr schedule, loss groups, balancer,
        one training step), with the model and batches on ``device``; a user error for a pick of
        your own training code (a function or command study), which has no recipe."""
        trainer = self.config.extra.get("trainer")
        if trainer:
            kind = "command" if isinstance(trainer, Mapping) and "command" in trainer else "function"
            raise UserError(f"recipes are for built-in tasks; this pick is of a {kind} trainer: train it "
                            "with paretolab.retrain(pick) (or 'paretolab train pick.yaml'), or give "
                            "pick.weights, pick.params and pick.balancer() to your own code")
        return Recipe(self.config, self.base_dir, device)

    @property
    def weights(self) -> dict[str, float]:
        """The preference weights, loss name -> weight."""
        return dict(self.config.weights)

    @property
    def params(self) -> dict[str, Any]:
        """The params the trial's training got: the training settings, then the task's (or your
        trainer's) fixed and searched params, as ``trial.params`` of a function trainer sees them."""
        return {**self.config.train, **self.config.task_params}

    @property
    def hyperparameters(self) -> dict[str, Any]:
        """The training hyperparameters (lr, optimizer, batch_size, weight_decay, ...)."""
        return dict(self.config.train)

    @property
    def loss_names(self) -> list[str]:
        """The balanced losses, in the order the trial used."""
        return list(self.config.loss_groups)

    @property
    def balancer(self) -> BalancerConfig:
        """The trial's balancer config (method, losses, preference weights, settings);
        ``pick.balancer()`` builds a fresh balancer from it."""
        config = BalancerConfig(method=self.config.balancer.method, losses=self.loss_names,
                                weights=dict(self.config.weights),
                                settings=dict(self.config.balancer.settings))
        config.base_dir = self.base_dir
        return config

    def optimizer(self, params: Iterable[Any], balancer: Any = None) -> Any:
        """The trial's optimizer over ``params`` plus the balancer's own learnable parameters."""
        return self.recipe().optimizer(params, balancer)

    def scheduler(self, optimizer: Any, total_steps: int) -> Any:
        """The trial's learning-rate schedule (warm-up, then constant / cosine / linear)."""
        return self.recipe().scheduler(optimizer, total_steps)

    def group_losses(self, raw: Mapping[str, Any]) -> dict[str, Any]:
        """The task's loss terms summed into the balanced losses, as in the trial."""
        return self.recipe().group_losses(raw)

    def make_task(self) -> Any:
        """The trial's task (built-in or the user's), with its params, built after seeding."""
        return self.recipe().make_task()

    def load_model(self, task: Any = None, device: str = "auto") -> Any:
        """The picked one-run point's model: ``task.build_model()`` with the saved ``theta(a)``
        (a :class:`UserError` when the pick has no checkpoint)."""
        import torch

        if self.checkpoint is None:
            raise UserError("this pick has no checkpoint (only points of a one_run study have one)",
                            hint="train it: paretolab train pick.yaml")
        if not self.checkpoint.is_file():
            raise UserError(f"the checkpoint {self.checkpoint} does not exist",
                            hint="pick the point again with 'paretolab pick --trial N'")
        recipe = self.recipe(device)
        task = task if task is not None else recipe.make_task()
        model = recipe.build_model(task)
        model.load_state_dict(torch.load(self.checkpoint, map_location=recipe.torch_device,
                                         weights_only=True))
        return model


def config_from_document(data: Mapping[str, Any], where: str = "pick.yaml") -> TrialConfig:
    """The trial config a pick document describes: its visible fields, over the ``config`` block
    of files written before they were the only copy (so an edited visible field wins)."""
    old = data.get("config")
    merged: dict[str, Any] = dict(old) if isinstance(old, Mapping) else {}
    for name in (f.name for f in dataclasses.fields(TrialConfig)):
        if name in data:
            merged[name] = data[name]
    extra = merged.get("extra")
    if isinstance(extra, Mapping) and extra.get("trainer") and isinstance(data.get("params"), Mapping):
        # your own trainer's pick lists its params only: the training settings it left alone
        # are the defaults it ran with
        from paretolab.spec.models import TrainSpec

        merged.setdefault("train", TrainSpec().model_dump())
        merged.setdefault("task_params", {})
    missing = [n for n in _REQUIRED if n not in merged]
    if missing:
        raise UserError(f"{where} is not a pick file: it has no {', '.join(missing)}",
                        hint="write it with 'paretolab pick'")
    merged.setdefault("eval_every", max(1, int(merged["steps"]) // 10))
    merged["extra"] = dict(merged.get("extra") or {})
    params = data.get("params")
    if merged["extra"].get("trainer") and isinstance(params, Mapping):  # edited params win
        merged["train"], merged["task_params"] = dict(merged["train"]), dict(merged["task_params"])
        for key, value in params.items():
            (merged["train"] if key in merged["train"] else merged["task_params"])[key] = value
    balancer = merged["balancer"]
    if not isinstance(balancer, Mapping) or "method" not in balancer:
        raise UserError(f"{where}: balancer must be a mapping with a method",
                        hint="e.g. balancer: {method: static, settings: {}}")
    merged["balancer"] = {"method": balancer["method"], "settings": dict(balancer.get("settings") or {})}
    try:
        return TrialConfig.from_dict(merged)
    except TypeError as exc:
        raise UserError(f"{where} does not describe a trial: {exc}") from None


def load_pick(path: str | Path) -> Pick:
    """Read ``pick.yaml`` (written by ``paretolab pick``) into a :class:`Pick`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist", hint="run 'paretolab pick <study>' first")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise UserError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(data, Mapping):
        raise UserError(f"{path} is not a pick file", hint="write it with 'paretolab pick'")
    return pick_from_document(data, path)


def pick_from_document(data: Mapping[str, Any], path: Path) -> Pick:
    """The :class:`Pick` a pick document describes (``path``: where it is, or will be, written)."""
    config = config_from_document(data, str(path))
    base = data.get("base_dir")
    checkpoint = data.get("checkpoint")
    preference = data.get("preference")
    return Pick(config=config, study=str(data.get("study", "")), trial=data.get("trial"),
                objectives=dict(data.get("objectives") or {}),
                directions=dict(data.get("directions") or {}),
                metrics=dict(data.get("metrics") or {}), knobs=dict(data.get("knobs") or {}),
                base_dir=Path(base) if base else path.parent, source=path,
                preference={str(k): float(v) for k, v in preference.items()}
                if isinstance(preference, Mapping) else None,
                checkpoint=path.parent / str(checkpoint) if checkpoint else None)


@dataclass
class Retrained:
    """A retraining run next to the trial: (objective, direction, trial value, retrained value)."""

    rows: list[tuple[str, str, float | None, float | None]]
    steps: int
    trial_steps: int
    wall_time_s: float
    device: str
    metrics: dict[str, float] = field(default_factory=dict)
    folder: Path | None = None  # where your own training code ran (trainer studies)
    # a one-run point: its saved model's objectives, as loaded (None: no checkpoint, or not loaded)
    checkpoint: dict[str, float] | None = None


def checkpoint_metrics(p: Pick, device: str = "auto") -> dict[str, float]:
    """The metrics of a one-run pick's saved model, evaluated as the study did."""
    from paretolab.recipe import evaluate

    recipe = p.recipe(device)
    task = recipe.make_task()
    model = p.load_model(task, device)
    return evaluate(task, model, recipe.torch_device)


def retrain(p: Pick, steps: int | None = None, device: str = "auto", *,
            checkpoint: bool = True, progress: Callable[[int, int], None] | None = None) -> Retrained:
    """Train the picked configuration again (``steps`` overrides the trial's budget).

    A one-run point (its pick has a checkpoint) is retrained as a fixed-weight model with its
    preference as the weights (and its run's balancer); with ``checkpoint`` its saved model is
    also loaded and evaluated (:attr:`Retrained.checkpoint`). ``progress(step, steps)`` is called
    at each evaluation (a progress bar); training uses the trial's torch thread count."""
    from paretolab import kinds
    from paretolab.errors import TrialFailure

    if steps is not None and steps < 1:
        raise UserError(f"--steps must be a positive number, got {steps}")
    n = steps or p.config.steps
    every = max(1, min(p.config.eval_every * n // max(1, p.config.steps), n)) if steps else \
        p.config.eval_every
    config = dataclasses.replace(p.config, steps=n, eval_every=every)
    kind = kinds.for_config(config)
    # your own training code runs again in a folder of its own ({steps}: n)
    folder = (p.source.parent if p.source else Path.cwd()).resolve() / "train" / f"trial-{p.trial}" \
        if kind.uses_folder else None
    from paretolab.threads import set_threads, use_recorded

    def on_eval(step: int, metrics: Any) -> None:
        if progress is not None:
            progress(step, n)

    before = set_threads(None)
    use_recorded(config)
    try:
        result = kind.reproduce(config, device=device, base_dir=p.base_dir, folder=folder or Path.cwd(),
                                number=p.trial, required=list(p.objectives), on_eval=on_eval)
    except TrialFailure as exc:
        raise UserError(f"retraining failed: {exc}") from None
    finally:
        set_threads(before)
    rows: list[tuple[str, str, float | None, float | None]] = [
        (name, p.directions.get(name, "minimize"), value, result.metrics.get(name))
            for name, value in p.objectives.items()]
    loaded = checkpoint_metrics(p, device) if checkpoint and p.checkpoint is not None else None
    return Retrained(rows, n, p.config.steps, result.wall_time_s or 0.0, str(result.device), result.metrics,
                     folder, loaded)
