"""TRL's ``GRPOTrainer`` as a paretolab command trial (``trainer: {command: [...]}``).

paretolab runs this script once per trial, in its trial folder, either as
``python train_script.py --beta {beta} ...`` or under ``accelerate launch``. The script reads
the trial's reward weights (and seed) with ``paretolab.client.config()``; ``beta``, ``lr`` and
the step budget arrive on the command line, as any launch script's settings would. A
:class:`paretolab.integrations.hf.ParetolabCallback` on the trainer reports TRL's logged mean
rewards and KL with ``paretolab.client.report``; when MO-ASHA prunes the trial, paretolab stops
the program (the callback also ends training at the next step if it sees the stop request).
Run alone (no paretolab), it trains once with equal weights.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from paretolab import client
from paretolab.integrations import hf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tiny_grpo import LOGGED, build_tiny_model, make_trainer  # noqa: E402  (shared with train.py)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--beta", type=float, default=0.1, help="the KL coefficient")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--log-every", type=int, default=1)
    parser.add_argument("--model", help="a saved policy (default: a tiny GPT-2 built here)")
    args = parser.parse_args()
    cfg = client.config()  # {} outside paretolab
    weights = cfg.get("weights", {"brevity": 0.5, "vowels": 0.5})
    folder = Path(client.trial_dir() or tempfile.mkdtemp(prefix="trl-grpo-"))
    # one tiny model per study, next to the trial folders (<study>/trials/<number>)
    model = args.model or build_tiny_model(folder.parents[1] / "tiny-gpt2" if client.trial_dir()
                                           else folder / "tiny-gpt2")
    trainer = make_trainer(model, weights=weights, beta=args.beta, lr=args.lr, steps=args.steps,
                           seed=int(cfg.get("seed", 0)), output_dir=folder, device=cfg.get("device", "cpu"),
                           log_every=args.log_every)
    final = hf.run(trainer, client, metrics=LOGGED)  # client.report(step, brevity=..., vowels=..., kl=...)
    if final:  # the main process (the others report nothing)
        print("final:", final)


if __name__ == "__main__":
    main()
