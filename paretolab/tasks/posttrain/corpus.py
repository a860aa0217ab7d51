"""The ``posttrain`` task's language: a character vocabulary, arithmetic prompts and the
supervised corpus the starting model is pre-trained on.

A prompt is ``"aaa+bbb="`` with both operands zero-padded to three digits (every prompt has the
same length, so batches need no padding); its answer is the sum. The corpus writes each answer
in one of four styles, so the pre-trained model has habits that the rewards can pull apart:
plain ``"46"``, boxed ``"[46]"`` (the format reward's style), verbose ``"46 (12+34)"`` (a
restatement that costs length) and boxed-verbose. Every completion ends with ``END``.
Difficulty is the number of digits of the operands, a float: an operand is drawn uniformly
from ``0 .. round(10 ** difficulty) - 1``, so difficulty 1.5 means operands up to 31.
"""

from __future__ import annotations

import torch

VOCAB = "0123456789+=[]() ;"
END = ";"
STOI = {c: i for i, c in enumerate(VOCAB)}
END_ID = STOI[END]
OPERAND_DIGITS = 3
PROMPT_LEN = 2 * OPERAND_DIGITS + 2  # "aaa+bbb="
MAX_DIFFICULTY = float(OPERAND_DIGITS)


def encode(text: str) -> list[int]:
    """Token ids of ``text`` (characters of :data:`VOCAB` only)."""
    return [STOI[c] for c in text]


def decode(ids: list[int] | torch.Tensor) -> str:
    """The text of token ids."""
    return "".join(VOCAB[int(i)] for i in ids)


def completion_text(ids: list[int] | torch.Tensor) -> tuple[str, bool]:
    """A sampled completion's text before its first ``END`` and whether it reached ``END``."""
    text = decode(ids)
    cut = text.find(END)
    return (text, False) if cut < 0 else (text[:cut], True)


def prompt_text(a: int, b: int) -> str:
    """``"012+345="``."""
    return f"{a:0{OPERAND_DIGITS}d}+{b:0{OPERAND_DIGITS}d}="


def operand_limit(difficulty: float) -> int:
    """Operands are drawn from ``0 .. operand_limit(difficulty) - 1`` (at least 0..1)."""
    level = min(max(float(difficulty), 0.0), MAX_DIFFICULTY)
    return max(2, round(10.0 ** level))


def sample_operands(n: int, difficulty: float, generator: torch.Generator) -> torch.Tensor:
    """(n, 2) operands for prompts of this difficulty."""
    return torch.randint(0, operand_limit(difficulty), (n, 2), generator=generator)


def prompts(operands: torch.Tensor) -> torch.Tensor:
    """(n, PROMPT_LEN) token ids of the prompts of (n, 2) operands."""
    return torch.tensor([encode(prompt_text(int(a), int(b))) for a, b in operands.tolist()],
                        dtype=torch.long)


def styled_answer(a: int, b: int, boxed: bool, verbose: bool) -> str:
    """The answer to ``a+b`` in one of the corpus's styles (without ``END``)."""
    answer = str(a + b)
    text = f"[{answer}]" if boxed else answer
    return f"{text} ({a}+{b})" if verbose else text


def max_completion_len() -> int:
    """The longest completion of the corpus, with ``END``: ``[1998] (999+999);``."""
    top = 10**OPERAND_DIGITS - 1
    return len(styled_answer(top, top, True, True)) + 1


def corpus_batch(n: int, generator: torch.Generator, boxed: float, verbose: float,
                 max_difficulty: float = MAX_DIFFICULTY) -> tuple[torch.Tensor, torch.Tensor]:
    """A supervised batch: (n, T) token ids of prompt + styled answer + END, padded with END to
    ``T = PROMPT_LEN + max_completion_len()``, and a (n, T) mask of the completion tokens to
    learn (the answer and its first END). Difficulties are drawn uniformly in [1, max]."""
    total = PROMPT_LEN + max_completion_len()
    levels = 1.0 + torch.rand(n, generator=generator) * (max_difficulty - 1.0)
    flips = torch.rand(n, 2, generator=generator)
    ids = torch.full((n, total), END_ID, dtype=torch.long)
    mask = torch.zeros(n, total, dtype=torch.bool)
    for i in range(n):
        a, b = (int(v) for v in sample_operands(1, float(levels[i]), generator)[0])
        answer = styled_answer(a, b, bool(flips[i, 0] < boxed), bool(flips[i, 1] < verbose)) + END
        row = encode(prompt_text(a, b) + answer)
        ids[i, :len(row)] = torch.tensor(row)
        mask[i, PROMPT_LEN:len(row)] = True
    return ids, mask
