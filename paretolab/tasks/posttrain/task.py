"""Built-in task ``posttrain``: GRPO fine-tuning (Shao et al. 2024) of a pre-trained tiny
language model with several programmatic rewards and a KL leash to the reference policy.

Every trial starts from the same checkpoint: a character-level transformer pre-trained by
supervised learning on arithmetic prompts (``"012+034="``) answered in four styles (see
:mod:`~paretolab.tasks.posttrain.corpus`), pre-trained once per configuration and cached
(:mod:`~paretolab.tasks.posttrain.pretrain`). A trial fine-tunes it with GRPO: each step takes
``train.batch_size`` prompts, samples ``group`` completions of each (every ``iterations``
steps; the steps in between reuse them, so the clipped ratio acts), scores them with the
``rewards`` and returns one loss per reward plus ``kl``:

- a reward's loss has the gradient of GRPO's clipped surrogate with that reward's group-relative
  advantage (:mod:`~paretolab.tasks.posttrain.grpo`); its value is minus the batch's mean reward,
  so loss-level balancers and constraints read how well the policy does on that reward;
- ``kl`` is the mean per-token k3 estimate of KL(policy || reference) on the sampled completions,
  so its weight is GRPO's ``beta`` relative to the rewards.

The study's weights and balancers weigh these losses; gradient-level balancers see each loss's
gradient on all of the language model's parameters (the shared parameters). Metrics on
``eval_prompts`` held-out prompts of difficulty ``digits`` (one sampled completion each, with a
fixed seed): the mean of each reward, ``length`` (characters before the end mark), ``kl`` (the
exact per-token KL to the reference along those completions) and ``difficulty`` (the training
prompts' difficulty now: a curriculum moves it from ``curriculum_initial`` to ``_final``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import torch
from torch import nn

from paretolab.errors import TaskError
from paretolab.tasks.base import Task
from paretolab.tasks.posttrain.corpus import (
    MAX_DIFFICULTY,
    PROMPT_LEN,
    completion_text,
    max_completion_len,
    prompts,
    sample_operands,
)
from paretolab.tasks.posttrain.grpo import (
    ADVANTAGES,
    clipped_surrogates,
    exact_kl,
    group_advantages,
    kl_k3,
    masked_mean,
)
from paretolab.tasks.posttrain.model import (
    LMConfig,
    TinyLM,
    completion_logits,
    completion_mask,
    generate,
    token_log_probs,
)
from paretolab.tasks.posttrain.pretrain import PretrainConfig, load_or_pretrain
from paretolab.tasks.posttrain.rewards import REWARDS, reward_table


class PostTrainTask(Task):
    """See the module docstring."""

    def __init__(self, rewards: Sequence[str] = ("correct", "brief", "format"), digits: float = 2.0,
                 group: int = 8, iterations: int = 2, clip: float = 0.2, advantages: str = "centered",
                 max_new: int | None = None, eval_prompts: int = 128, eval_seed: int = 0,
                 layers: int = 2, width: int = 64, heads: int = 4, pretrain_steps: int = 1500,
                 pretrain_seed: int = 0, cache_dir: str | None = None):
        names = tuple(str(r) for r in rewards)
        unknown = [r for r in names if r not in REWARDS]
        if unknown or not names or len(set(names)) != len(names):
            raise TaskError(f"rewards must be distinct names among {', '.join(REWARDS)}, got {list(names)}",
                            where="task.params.rewards")
        for name, value in (("group", group), ("iterations", iterations), ("eval_prompts", eval_prompts),
                            ("layers", layers), ("width", width), ("heads", heads),
                            ("pretrain_steps", pretrain_steps)):
            if int(value) < 1 or (name == "group" and int(value) < 2):
                raise TaskError(f"{name} must be a positive integer{' >= 2' if name == 'group' else ''}, "
                                f"got {value!r}", where=f"task.params.{name}")
        if advantages not in ADVANTAGES:
            raise TaskError(f"advantages must be one of {', '.join(ADVANTAGES)}, got {advantages!r}",
                            where="task.params.advantages")
        if not 0.0 <= float(digits) <= MAX_DIFFICULTY:
            raise TaskError(f"digits must be in [0, {MAX_DIFFICULTY:g}], got {digits!r}",
                            where="task.params.digits")
        longest = max_completion_len()
        self.max_new = longest if max_new is None else int(max_new)
        if not 1 <= self.max_new <= longest:
            raise TaskError(f"max_new must be in [1, {longest}], got {max_new!r}", where="task.params.max_new")
        if int(width) % int(heads):
            raise TaskError(f"width {width} is not a multiple of heads {heads}", where="task.params.width")
        self.rewards = names
        self.losses = (*names, "kl")
        self.metrics = (*names, "length", "kl", "difficulty")
        self.digits, self.difficulty = float(digits), float(digits)
        self.progress = 0.0
        self.group, self.iterations, self.clip = int(group), int(iterations), float(clip)
        self.advantages = advantages
        self.eval_prompts, self.eval_seed = int(eval_prompts), int(eval_seed)
        self.pretrain_config = PretrainConfig(
            model=LMConfig(layers=int(layers), width=int(width), heads=int(heads),
                           context=PROMPT_LEN + longest),
            steps=int(pretrain_steps), seed=int(pretrain_seed))
        self.cache_dir = cache_dir
        self._start: dict[str, torch.Tensor] | None = None
        self._reference: TinyLM | None = None
        self._rollout: dict[str, Any] | None = None
        self._rollout_key: int | None = None

    # --- the starting checkpoint ------------------------------------------------------------
    def starting_state_dict(self) -> dict[str, torch.Tensor]:
        """The pre-trained weights every trial starts from (pre-trained and cached on first use)."""
        if self._start is None:
            self._start = load_or_pretrain(self.pretrain_config, self.cache_dir)
        return self._start

    def build_model(self) -> nn.Module:
        """A :class:`TinyLM` holding the starting checkpoint's weights."""
        model = TinyLM(self.pretrain_config.model)
        model.load_state_dict(self.starting_state_dict())
        return model

    def reference(self, device: torch.device) -> TinyLM:
        """The frozen reference policy (the starting checkpoint) on ``device``."""
        if self._reference is None:
            ref = TinyLM(self.pretrain_config.model)
            ref.load_state_dict(self.starting_state_dict())
            self._reference = ref.eval().requires_grad_(False)
        if next(self._reference.parameters()).device != device:
            self._reference = self._reference.to(device)
        return self._reference

    # --- curriculum ---------------------------------------------------------------------------
    def set_curriculum(self, progress: float, difficulty: float) -> None:
        """The recipe's curriculum: training prompts from now on have this difficulty."""
        self.progress = float(progress)
        self.difficulty = min(max(float(difficulty), 0.0), MAX_DIFFICULTY)

    # --- the contract -------------------------------------------------------------------------
    def batches(self, batch_size: int, generator: torch.Generator) -> Iterator[dict[str, torch.Tensor]]:
        """``batch_size`` prompts of the current difficulty and a sampling seed, each batch given
        ``iterations`` times in a row (GRPO's updates on one set of samples)."""
        number = 0
        while True:
            operands = sample_operands(int(batch_size), self.difficulty, generator)
            seed = torch.randint(0, 2**31 - 1, (1,), generator=generator)
            for _ in range(self.iterations):
                yield {"operands": operands, "seed": seed, "batch": torch.tensor([number])}
            number += 1

    def compute_losses(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One GRPO update's losses (see the module docstring); samples when the batch is new."""
        key = int(batch["batch"].reshape(-1)[0])
        if self._rollout is None or key != self._rollout_key:
            self._rollout = self._sample(model, batch)
            self._rollout_key = key
        r = self._rollout
        log_probs = token_log_probs(completion_logits(model, r["prompts"], r["completions"]), r["completions"])
        surrogates = clipped_surrogates(log_probs, r["old"], r["advantages"], r["mask"], self.clip)
        losses = {name: surrogates[k] - surrogates[k].detach() - r["mean_rewards"][k]
                  for k, name in enumerate(self.rewards)}
        losses["kl"] = masked_mean(kl_k3(log_probs, r["ref"]), r["mask"])
        return losses

    def evaluate(self, model: nn.Module, device: torch.device) -> dict[str, float]:
        """Mean rewards, length and KL on the held-out prompts (see the module docstring)."""
        operands = sample_operands(self.eval_prompts, self.digits, torch.Generator().manual_seed(self.eval_seed))
        prompt_ids = prompts(operands).to(device)
        generator = torch.Generator(device=device).manual_seed(self.eval_seed)
        completions = generate(model, prompt_ids, self.max_new, generator)
        texts = [completion_text(c)[0] for c in completions.cpu()]
        table = torch.tensor(reward_table(texts, operands.sum(dim=1).tolist(), self.max_new, self.rewards),
                             dtype=torch.float64)
        mask = completion_mask(completions)
        kl = exact_kl(completion_logits(model, prompt_ids, completions),
                      completion_logits(self.reference(device), prompt_ids, completions))
        out = {name: float(table[:, k].mean()) for k, name in enumerate(self.rewards)}
        out["length"] = sum(len(t) for t in texts) / len(texts)
        out["kl"] = float(masked_mean(kl, mask))
        out["difficulty"] = self.difficulty
        return out

    # --- sampling -----------------------------------------------------------------------------
    @torch.no_grad()
    def _sample(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, Any]:
        """``group`` completions of every prompt, their rewards, advantages and log-probabilities
        under the sampling policy and the reference."""
        operands = batch["operands"]
        device = operands.device
        repeated = operands.repeat_interleave(self.group, dim=0)
        prompt_ids = prompts(repeated.cpu()).to(device)
        generator = torch.Generator(device=device).manual_seed(int(batch["seed"].reshape(-1)[0]))
        completions = generate(model, prompt_ids, self.max_new, generator)
        texts = [completion_text(c)[0] for c in completions.cpu()]
        rewards = torch.tensor(reward_table(texts, repeated.sum(dim=1).tolist(), self.max_new, self.rewards),
                               dtype=torch.float32, device=device)
        logits = completion_logits(model, prompt_ids, completions)
        ref_logits = completion_logits(self.reference(device), prompt_ids, completions)
        return {"prompts": prompt_ids, "completions": completions, "mask": completion_mask(completions),
                "old": token_log_probs(logits, completions), "ref": token_log_probs(ref_logits, completions),
                "advantages": group_advantages(rewards, self.group, self.advantages),
                "mean_rewards": rewards.mean(dim=0)}

    def sample_texts(self, model: nn.Module, problems: Sequence[tuple[int, int]], seed: int = 0,
                     greedy: bool = False) -> list[str]:
        """Completions of ``model`` (on its device) for the prompts ``a+b=`` of ``problems``."""
        device = next(model.parameters()).device
        operands = torch.tensor([list(p) for p in problems], dtype=torch.long)
        generator = torch.Generator(device=device).manual_seed(int(seed))
        model.eval()
        completions = generate(model, prompts(operands).to(device), self.max_new, generator, greedy=greedy)
        return [completion_text(c)[0] for c in completions.cpu()]
