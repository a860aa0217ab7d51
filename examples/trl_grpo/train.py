"""TRL's ``GRPOTrainer`` as a paretolab function trial (``trainer: {function: train.py:train}``).

Per trial, :func:`train` builds the trainer (:mod:`tiny_grpo`) with the trial's preference
weights as ``reward_weights`` and its searched ``beta`` (the KL coefficient), and runs it with
:func:`paretolab.integrations.hf.run`: a callback reports TRL's logged mean rewards and KL as the
trial's curve, and when MO-ASHA stops the trial at a rung, training ends after that step and the
trial is recorded as pruned. Run with ``paretolab run examples/trl_grpo/study.yaml``
(``pip install 'paretolab[hf]'``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from paretolab.integrations import hf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_grpo import LOGGED, build_tiny_model, make_trainer  # noqa: E402  (shared with train_script.py)


def train(trial: Any) -> dict[str, float]:
    """paretolab calls this once per trial with a ``paretolab.TrialContext``."""
    p = trial.params
    model = p.get("model") or build_tiny_model(Path(trial.dir).parents[1] / "tiny-gpt2")  # one per study
    trainer = make_trainer(model, weights=trial.weights, beta=p["beta"], lr=p["lr"], steps=trial.steps,
                           seed=trial.seed, output_dir=trial.dir, device=str(trial.device),
                           log_every=int(p.get("log_every", 1)), generations=int(p.get("generations", 4)),
                           prompts_per_step=int(p.get("prompts_per_step", 2)),
                           aggregation=str(p.get("aggregation", "sum_then_normalize")))
    return hf.run(trainer, trial, metrics=LOGGED)  # the last logged brevity, vowels and kl
