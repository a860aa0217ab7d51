"""A short real run of the study's own training code before the study starts (``paretolab
validate`` on a ``trainer:`` study).

The checks in :mod:`paretolab.spec.checks` cannot know what a trainer function or command
measures: it says so only when it runs. Here it runs once, on CPU, for a few steps, with a
configuration drawn as for a trial, in a temporary folder; it sees ``trial.dry_run``
(``client.dry_run()`` in a command) and may shorten its work further. Every objective or
constraint metric it did not give is named with the closest name it gave; a balancer given a
misnamed loss says so the same way.
"""

from __future__ import annotations

import difflib
import math
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from paretolab.errors import TaskError, TrialFailure
from paretolab.spec.checks import CheckedStudy

STEPS = 2
TIMEOUT_S = 300.0


@dataclass(frozen=True)
class TrainerRunResult:
    """What the short run gave: its final metrics, its steps, how long it took."""

    metrics: dict[str, float]
    steps: int
    seconds: float


def missing_metrics(wanted: dict[str, str], given: list[str]) -> list[str]:
    """One line per wanted metric (name -> what names it) not given, with the closest given name."""
    problems = []
    for name, why in wanted.items():
        if name in given:
            continue
        close = difflib.get_close_matches(name, [g for g in given if g not in wanted], n=1)
        problems.append(f"it gave no metric {name!r} ({why})" + (f"; did you mean {close[0]!r}?" if close else "")
                        + f" It gave {sorted(given)}")
    return problems


def trainer_trial_run(checked: CheckedStudy, steps: int = STEPS, timeout: float = TIMEOUT_S) -> TrainerRunResult:
    """Run the trainer once for ``steps`` steps on CPU; raise one TaskError naming what is wrong."""
    import optuna

    from paretolab.search_space import suggest_config
    from paretolab.tasks.loader import describe_exception
    from paretolab.trials.run import run_trainer, trainer_entry

    spec = checked.spec
    assert spec.trainer is not None
    where = spec.where("trainer", spec.trainer.kind)
    hint = "fix the trainer, or skip this check with --no-run"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=spec.directions, sampler=optuna.samplers.RandomSampler(spec.seed))
    config = suggest_config(study.ask(), spec, checked.balanced_names, checked.loss_groups)
    config.extra["trainer"] = trainer_entry(spec, checked.task_ref)
    config.extra["dry_run"] = True
    config.steps = max(1, min(int(steps), int(config.steps)))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="paretolab-validate-") as folder:
        try:
            result = run_trainer(config, Path(folder) / "trial", device="cpu", number=0,
                                 timeout=timeout if spec.trainer.command is not None else None)
        except TrialFailure as exc:
            raise TaskError(f"a trial run of the trainer ({config.steps} steps on CPU) failed: {exc}",
                            where=where, hint=hint) from None
        except Exception as exc:  # noqa: BLE001 - the user's code raised
            raise TaskError(f"a trial run of the trainer ({config.steps} steps on CPU) raised "
                            f"{describe_exception(exc)}", where=where, hint=hint) from None
    given = sorted({*result.metrics, *(k for k in result.curves if k != "step")})
    wanted = {o.name: f"objective {i}" for i, o in enumerate(spec.objectives)}
    for constraint in spec.constraints:
        wanted.setdefault(constraint.metric, f"constraint '{constraint}'")
    problems = missing_metrics(wanted, given)
    problems += [f"metric {name!r} = {result.metrics[name]} (not finite)" for name in wanted
                 if name in result.metrics and not math.isfinite(result.metrics[name])]
    if problems:
        head = f"a trial run of the trainer ({config.steps} steps on CPU) found "
        head += "a problem:" if len(problems) == 1 else f"{len(problems)} problems:"
        raise TaskError(head + "".join(f"\n  - {p}" for p in problems), where=where,
                        hint="return (or report) every objective and constraint metric the study "
                        "names, as finite numbers (or skip this check with --no-run)")
    return TrainerRunResult(dict(result.metrics), config.steps, time.perf_counter() - start)
