"""Sampled completions of a picked ``posttrain`` fine-tune: retrain the pick, then sample.

``paretolab pick STUDY --trial N`` writes ``pick.yaml``; this retrains that configuration with
the trial's recipe (same steps, seed, evaluations and curriculum: on the same device and thread
count, the trial's own weights) and prints its metrics beside the trial's and a few sampled
completions of held-out prompts::

    python -m paretolab.tasks.posttrain.samples reports/posttrain/pick.yaml --prompts 2

:func:`finetune` returns the task and the fine-tuned model for one's own use (its
``state_dict`` saves and loads like any ``torch.nn.Module``'s).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from paretolab.tasks.posttrain.corpus import sample_operands


def finetune(pick_file: str | Path, device: str = "cpu") -> tuple[Any, torch.nn.Module, dict[str, float]]:
    """(task, fine-tuned model, its final metrics) of the pick in ``pick_file``, trained as the
    trainer trains a trial (evaluating at the same steps, which an adaptive curriculum reads)."""
    from paretolab.production import load_pick

    pick = load_pick(pick_file)
    recipe = pick.recipe(device)
    task = recipe.make_task()
    model = recipe.build_model(task)
    run = recipe.start(model, task)
    batches = recipe.batches(task)
    steps, every = pick.config.steps, pick.config.eval_every
    metrics: dict[str, float] = {}
    for step in range(1, steps + 1):
        run.step(run.losses(next(batches)))
        if step % every == 0 or step == steps:
            metrics = run.evaluate()
    return task, model, metrics


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pick_file", type=Path)
    parser.add_argument("--prompts", type=int, default=2, help="held-out prompts to sample")
    parser.add_argument("--seed", type=int, default=1, help="the sampling seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the trial's: 1 per CPU worker)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    from paretolab.production import load_pick

    pick = load_pick(args.pick_file)
    task, model, metrics = finetune(args.pick_file, args.device)
    shown = ", ".join(f"{k} {metrics[k]:.3f} (trial {v:.3f})" for k, v in pick.objectives.items())
    print(f"trial {pick.trial}: weights {', '.join(f'{k} {v:.3f}' for k, v in pick.config.weights.items())}; "
          f"retrained: {shown}")
    operands = sample_operands(args.prompts, task.digits, torch.Generator().manual_seed(args.seed))
    problems = [(int(a), int(b)) for a, b in operands.tolist()]
    for (a, b), text in zip(problems, task.sample_texts(model, problems, seed=args.seed)):
        print(f"  {a}+{b}= -> {text!r}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
