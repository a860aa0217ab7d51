"""One trial of a ``trainer`` study: its configuration as the user's code sees it, and the
dispatch to a function or a command (used by the objective and by ``paretolab train``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from paretolab.records import TrialResult
from paretolab.search_space import TrialConfig
from paretolab.trials.context import ReportLog, TrialContext, require_metrics


def trainer_entry(spec: Any, function_ref: str | None = None) -> dict[str, Any]:
    """What a trial stores of the study's trainer (in ``TrialConfig.extra['trainer']``, so a
    pick can run it again): the function reference (absolute) or the command and its folder."""
    trainer = spec.trainer
    if trainer.function is not None:
        return {"function": function_ref or trainer.function, "base_dir": str(spec.base_dir.resolve())}
    return {"command": list(trainer.command), "base_dir": str(spec.base_dir.resolve()),
            "kill_grace": trainer.kill_grace}


def trial_params(config: TrialConfig) -> dict[str, Any]:
    """Every param of the trial: the training settings, then the trainer's fixed and searched ones."""
    return {**config.train, **config.task_params}


def trial_document(config: TrialConfig, number: int | None, device: str) -> dict[str, Any]:
    """The trial's configuration as ``trial.json`` holds it."""
    return {"trial": number, "weights": dict(config.weights), "params": trial_params(config),
            "seed": config.seed, "steps": config.steps, "losses": list(config.loss_groups),
            "balancer": config.balancer.to_attr(),
            "device": "cuda" if device.startswith("cuda:") else device,
            "threads": config.extra.get("threads"), "dry_run": bool(config.extra.get("dry_run"))}


def run_trainer(config: TrialConfig, trial_dir: Path, *, device: str, number: int | None = None,
                objectives: Sequence[str] = (), required: Sequence[str] = (),
                on_eval: Callable[[int, dict[str, float]], None] | None = None,
                timeout: float | None = None) -> TrialResult:
    """Run the trial's own training code (``config.extra['trainer']``) and return what it measured.

    ``required`` metrics (objectives and constraints) missing from the final metrics fail the
    trial, naming the function or command."""
    entry: Mapping[str, Any] = config.extra["trainer"]
    base_dir = Path(entry["base_dir"]) if entry.get("base_dir") else None
    log = ReportLog(objectives, on_eval)
    if "function" in entry:
        from paretolab.devices import resolve_device
        from paretolab.trials.function import run_function

        resolved = resolve_device(device)
        ctx = TrialContext(weights=dict(config.weights), params=trial_params(config), seed=config.seed,
                           device=resolved, dir=trial_dir, steps=config.steps,
                           number=number or 0, config=config, base_dir=base_dir, log=log,
                           dry_run=bool(config.extra.get("dry_run")))
        result = run_function(entry["function"], ctx, base_dir)
        what = f"the trainer function {entry['function']}"
    else:
        from paretolab.trials.command import run_command

        result = run_command(entry["command"], trial_document(config, number, device), trial_dir, log,
                             device=device, cwd=base_dir, timeout=timeout,
                             grace=float(entry.get("kill_grace", 10.0)))
        what = "the command"
    require_metrics(result.metrics, required, what)
    return result

