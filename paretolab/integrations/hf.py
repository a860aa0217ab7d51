"""Hugging Face's ``transformers.Trainer`` (and every TRL trainer built on it) reporting to a trial.

:class:`ParetolabCallback` hands each of the trainer's logs (training and evaluation metrics alike:
``Trainer.evaluate`` logs its ``eval_*`` metrics too) to ``trial.report(step, **metrics)``, where
``trial`` is the :class:`paretolab.TrialContext` of a function trial or the
:mod:`paretolab.client` module in a command trial's program. When MO-ASHA stops the trial at a
rung, the report raises :class:`paretolab.TrialPruned`; the callback keeps it, asks the trainer
to stop after the current step (``control.should_training_stop``), and :func:`run` raises it
again once ``trainer.train()`` has returned, so the trial ends pruned, not failed, and the
trainer finishes its step and its own end-of-training work. In a command trial the callback also
stops training when paretolab asks the program to stop (``client.should_stop()``).

Needs ``transformers`` (``pip install 'paretolab[hf]'``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from numbers import Real
from typing import Any

from paretolab.errors import UserError

try:
    from transformers import TrainerCallback
except ImportError:
    raise UserError("paretolab.integrations.hf needs transformers, which is not installed",
                    hint="pip install 'paretolab[hf]'") from None

__all__ = ["ParetolabCallback", "run"]

# the keys of the summary Trainer.train logs once at its end (not a curve point)
SUMMARY_KEY = "train_runtime"


def _selection(metrics: Mapping[str, str] | Iterable[str] | None) -> dict[str, str] | None:
    """``{name in the study: name in the trainer's logs}``, or None for every logged number."""
    if metrics is None:
        return None
    if isinstance(metrics, Mapping):
        return {str(k): str(v) for k, v in metrics.items()}
    if isinstance(metrics, str):
        raise TypeError("metrics must be a mapping or a list of names, not a string")
    return {str(name): str(name) for name in metrics}


class ParetolabCallback(TrainerCallback):
    """Report the trainer's logs to a paretolab trial; stop training when the trial is pruned.

    ``metrics`` picks what is reported: ``{"kl": "kl", "brevity": "rewards/brevity/mean"}``
    reports TRL's logged ``rewards/brevity/mean`` as ``brevity`` (names the study file can use in
    ``objectives`` and ``constraints``); a list of logged names reports them as they are; None
    (the default) reports every number the trainer logs. A log without any of them is skipped;
    so is the summary ``train()`` logs at its end.

    A report carries every value logged at its step so far: at a step that logs the training
    loss and then evaluates, the second report holds both (MO-ASHA judges a report that carries
    every objective). Objectives that mix training and evaluation metrics need evaluation steps
    that are logging steps too (``eval_steps`` a multiple of ``logging_steps``).
    """

    def __init__(self, trial: Any, metrics: Mapping[str, str] | Iterable[str] | None = None):
        self.trial = trial
        self.metrics = _selection(metrics)
        self.latest: dict[str, float] = {}
        self.at_step: tuple[int, dict[str, float]] = (-1, {})  # the values logged at the last step
        self.pruned: BaseException | None = None

    def values(self, logs: Mapping[str, Any]) -> dict[str, float]:
        """The numbers of one log to report, under their names in the study."""
        pairs = self.metrics.items() if self.metrics is not None else ((k, k) for k in logs)
        out = {}
        for name, key in pairs:
            value = logs.get(key)
            if isinstance(value, Real) and not isinstance(value, bool):
                out[name] = float(value)
        return out

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None,
               **kwargs: Any) -> None:
        if not state.is_world_process_zero or not logs or SUMMARY_KEY in logs or self.pruned is not None:
            return
        values = self.values(logs)
        if not values:
            return
        self.latest.update(values)
        step, earlier = self.at_step
        if step == state.global_step:
            values = {**earlier, **values}
        self.at_step = (state.global_step, values)
        from paretolab import TrialPruned

        try:
            self.trial.report(state.global_step, **values)
        except TrialPruned as pruned:  # MO-ASHA stopped the trial at a rung
            self.pruned = pruned
            control.should_training_stop = True

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        should_stop = getattr(self.trial, "should_stop", None)  # paretolab.client, in a command trial
        if callable(should_stop) and should_stop():
            control.should_training_stop = True

    def raise_if_pruned(self) -> None:
        """Raise the pruning the trial's report raised during training, if any."""
        if self.pruned is not None:
            raise self.pruned


def run(trainer: Any, trial: Any, metrics: Mapping[str, str] | Iterable[str] | None = None,
        **train_kwargs: Any) -> dict[str, float]:
    """``trainer.train(**train_kwargs)`` reporting to ``trial`` through a :class:`ParetolabCallback`.

    Returns the last reported value of each metric (what a function trial returns as its final
    metrics); raises :class:`paretolab.TrialPruned` after training stopped if MO-ASHA pruned the
    trial.
    """
    callback = ParetolabCallback(trial, metrics)
    trainer.add_callback(callback)
    try:
        trainer.train(**train_kwargs)
    finally:
        trainer.remove_callback(callback)
    callback.raise_if_pruned()
    return dict(callback.latest)
