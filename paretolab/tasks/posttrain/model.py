"""The ``posttrain`` task's policy: a tiny decoder-only transformer over characters (GPT-style,
Radford et al. 2018), with sampling and per-token log-probabilities for policy gradients.

:class:`TinyLM` is a plain ``nn.Module``: its ``state_dict`` saves and loads as any other, so
fine-tunes of the shared starting checkpoint can be compared or interpolated weight by weight.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from paretolab.tasks.posttrain.corpus import END_ID, VOCAB


@dataclass(frozen=True)
class LMConfig:
    """The architecture: layers, width, heads, context length."""

    layers: int = 2
    width: int = 64
    heads: int = 4
    context: int = 32

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


class Block(nn.Module):
    """Pre-norm causal self-attention and MLP."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.proj = nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm1(x)).split(c, dim=-1)
        shape = (b, t, self.heads, c // self.heads)
        q, k, v = (z.view(shape).transpose(1, 2) for z in (q, k, v))
        attn = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(attn.transpose(1, 2).reshape(b, t, c))
        return x + self.mlp(self.norm2(x))


class TinyLM(nn.Module):
    """Token and position embeddings, ``layers`` blocks, a final norm and the output head."""

    def __init__(self, config: LMConfig):
        super().__init__()
        if config.width % config.heads:
            raise ValueError(f"width {config.width} is not a multiple of heads {config.heads}")
        self.config = config
        self.tokens = nn.Embedding(len(VOCAB), config.width)
        self.positions = nn.Embedding(config.context, config.width)
        self.blocks = nn.ModuleList(Block(config.width, config.heads) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.width)
        self.head = nn.Linear(config.width, len(VOCAB))

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, T) token ids -> (B, T, vocabulary) next-token logits."""
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.tokens(ids) + self.positions(pos)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


@torch.no_grad()
def generate(model: nn.Module, prompts: torch.Tensor, max_new: int, generator: torch.Generator,
             greedy: bool = False) -> torch.Tensor:
    """(B, max_new) sampled completion ids (temperature 1, or argmax with ``greedy``); after a
    sequence's ``END`` every further token is ``END``. ``generator`` lives on the model's device."""
    ids = prompts
    done = torch.zeros(len(prompts), dtype=torch.bool, device=prompts.device)
    for _ in range(max_new):
        logits = model(ids)[:, -1].float()
        if greedy:
            nxt = logits.argmax(dim=-1)
        else:
            nxt = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator).squeeze(-1)
        nxt = torch.where(done, torch.full_like(nxt, END_ID), nxt)
        done = done | (nxt == END_ID)
        ids = torch.cat([ids, nxt[:, None]], dim=1)
        if bool(done.all()):
            break
    out = ids[:, prompts.shape[1]:]
    if out.shape[1] < max_new:  # every sequence ended: the rest is END
        out = F.pad(out, (0, max_new - out.shape[1]), value=END_ID)
    return out


def completion_mask(completions: torch.Tensor) -> torch.Tensor:
    """(B, L) float mask of the generated tokens up to and including the first ``END``."""
    is_end = (completions == END_ID).long()
    before = torch.cumsum(is_end, dim=1) - is_end  # ENDs strictly before each position
    return (before == 0).float()


def completion_logits(model: nn.Module, prompts: torch.Tensor, completions: torch.Tensor) -> torch.Tensor:
    """(B, L, vocabulary) logits of the model at each completion token."""
    ids = torch.cat([prompts, completions], dim=1)
    return model(ids)[:, prompts.shape[1] - 1:-1].float()


def token_log_probs(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """(B, L) log-probabilities of ``tokens`` under ``logits`` (B, L, V)."""
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
