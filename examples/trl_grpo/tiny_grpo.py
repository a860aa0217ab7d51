"""What both TRL examples share: a tiny GPT-2 policy built from a config in code (nothing is
downloaded), a character-level tokenizer, prompts, two rewards that pull against each other, and
TRL's ``GRPOTrainer`` for one trial.

The rewards: ``brevity`` (1 for an empty completion, 0 at the length limit) wants the policy to
end early; ``vowels`` (the share of the length limit filled with vowels) wants long completions
of vowels. The KL to the reference policy, weighed by ``beta``, holds the policy near where it
started. A study searches ``reward_weights`` (TRL sums the weighted rewards, then normalises
them within each group) and ``beta`` for the front of brevity against vowels against KL.

Replace :func:`build_tiny_model` with the path of your own SFT checkpoint, and the rewards with
yours, to use this on a real model.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
from transformers.utils import logging as hf_logging
from trl import GRPOConfig, GRPOTrainer

# TRL 1.16 still passes transformers 5 a few renamed arguments: not this example's concern
warnings.filterwarnings("ignore", category=FutureWarning, module="transformers")
hf_logging.disable_progress_bar()
hf_logging.set_verbosity_error()

CHARS = "abcdefghijklmnopqrstuvwxyz0123456789 .,?!"
PAD, EOS, UNK = "<pad>", "<eos>", "<unk>"
WORDS = ["hi", "no", "yes", "ok", "why", "how", "one", "two", "sun", "sea", "red", "cat"]
MAX_COMPLETION = 8  # tokens (characters) per completion

# the metrics reported to paretolab (names in the study files) -> TRL's names in its logs; reward
# is the weighted sum of the rewards' means, with the trial's reward_weights
LOGGED = {"brevity": "rewards/brevity/mean", "vowels": "rewards/vowels/mean", "kl": "kl", "reward": "reward"}


def brevity(completions: list[str], **kwargs: Any) -> list[float]:
    """1 for an empty completion, 0 for one at the length limit."""
    return [1.0 - min(len(c), MAX_COMPLETION) / MAX_COMPLETION for c in completions]


def vowels(completions: list[str], **kwargs: Any) -> list[float]:
    """The share of the length limit filled with vowels: long completions of vowels win."""
    return [min(sum(ch in "aeiou" for ch in c), MAX_COMPLETION) / MAX_COMPLETION for c in completions]


REWARDS = [brevity, vowels]


def tokenizer() -> PreTrainedTokenizerFast:
    """One token per character of :data:`CHARS`, and pad, end and unknown tokens."""
    vocab = {t: i for i, t in enumerate([PAD, EOS, UNK, *CHARS])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()  # characters back to a string, no spaces added
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, eos_token=EOS, unk_token=UNK)


def build_tiny_model(folder: Path, seed: int = 0) -> Path:
    """Save a randomly initialised 2-layer, 64-wide GPT-2 and its tokenizer in ``folder`` (once:
    an existing one is kept; concurrent trials each build one and the first to finish wins)."""
    folder = Path(folder)
    if (folder / "config.json").is_file():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tok = tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=64, vocab_size=len(tok),
                        bos_token_id=tok.eos_token_id, eos_token_id=tok.eos_token_id,
                        pad_token_id=tok.pad_token_id)
    building = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    GPT2LMHeadModel(config).save_pretrained(building)
    tok.save_pretrained(building)
    try:
        os.rename(building, folder)
    except OSError:  # another trial saved it first
        shutil.rmtree(building, ignore_errors=True)
    return folder


def prompts(n: int = 64, seed: int = 0) -> Dataset:
    """``n`` prompts such as ``say cat, `` (the dataset's ``prompt`` column, as GRPO reads it)."""
    g = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, len(WORDS), (n,), generator=g).tolist()
    return Dataset.from_dict({"prompt": [f"say {WORDS[i]}, " for i in picks]})


def make_trainer(model: str | Path, *, weights: Mapping[str, float], beta: float, lr: float, steps: int,
                 seed: int, output_dir: str | Path, device: str = "cpu", log_every: int = 1,
                 generations: int = 4, prompts_per_step: int = 2, aggregation: str = "sum_then_normalize",
                 ) -> GRPOTrainer:
    """TRL's GRPOTrainer for one trial: ``reward_weights`` in the order of :data:`REWARDS`,
    ``beta`` the KL coefficient; each step samples ``generations`` completions of
    ``prompts_per_step`` prompts. Metrics are logged every ``log_every`` steps (TRL averages
    them over those steps)."""
    if str(device).startswith("cuda:"):  # a function trial's worker GPU (Accelerate places on the current one)
        torch.cuda.set_device(torch.device(device))
    args = GRPOConfig(
        output_dir=str(output_dir), max_steps=int(steps), learning_rate=float(lr), beta=float(beta),
        reward_weights=[float(weights[f.__name__]) for f in REWARDS],
        multi_objective_aggregation=aggregation,
        per_device_train_batch_size=int(generations) * int(prompts_per_step), num_generations=int(generations),
        max_completion_length=MAX_COMPLETION, logging_steps=int(log_every), seed=int(seed),
        use_cpu=not str(device).startswith("cuda"), report_to="none", save_strategy="no",
        disable_tqdm=True)
    trainer = GRPOTrainer(model=str(model), reward_funcs=REWARDS, args=args, train_dataset=prompts(seed=seed),
                          processing_class=PreTrainedTokenizerFast.from_pretrained(str(model)))
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # paretolab keeps the curves; no dict printed per step
    return trainer
