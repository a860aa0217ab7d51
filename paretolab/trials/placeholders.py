"""A command trial's ``{name}`` placeholders: their values, their filling, and where paths resolve.

Values are params, weights (``{w.<loss>}``), ``{trial_dir}``, ``{study_dir}``, ``{steps}``,
``{seed}`` and ``{python}``. In the argv form each value is one argument as it is. In a shell
script (the argument after ``-c`` of ``sh``, ``bash``, ``dash``, ``zsh`` or ``ksh``) each value is
quoted for the shell (:func:`shlex.quote`): a param value such as ``; rm -rf ~`` or ``$(...)`` is
text there, never a command (``pick.yaml`` is an editable file that ``paretolab train`` reads).

The command runs in its trial folder, so relative outputs of two trials never meet; a part of
the command with no placeholder that names a file or folder of the study file's folder
(``train.py``, ``scripts/run.sh``, ``data/``) is given as its absolute path.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from paretolab.errors import TrialFailure

PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.\-]*)\}")
FIXED_NAMES = ("trial_dir", "study_dir", "steps", "seed", "python")
SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh"})


def placeholder_values(config: Mapping[str, Any], trial_dir: Path,
                       study_dir: Path | None = None) -> dict[str, Any]:
    """``{name}`` -> value: every param, ``w.<loss>`` for every weight, ``trial_dir``,
    ``study_dir`` (the study file's folder), ``steps``, ``seed``, and ``python`` (the
    interpreter paretolab runs on)."""
    values: dict[str, Any] = dict(config["params"])
    values.update({f"w.{k}": v for k, v in config["weights"].items()})
    values.update(trial_dir=str(trial_dir), steps=config["steps"], seed=config["seed"],
                  python=sys.executable, study_dir=str(study_dir if study_dir is not None else Path.cwd()))
    return values


def shell_script_index(command: Sequence[str]) -> int | None:
    """The index of the script in ``[sh, ..., -c, script, ...]``, or None for a plain argv."""
    if not command or os.path.basename(command[0]) not in SHELLS:
        return None
    for i, part in enumerate(command[1:-1], start=1):
        if part == "-c" or (part.startswith("-") and not part.startswith("--") and part.endswith("c")):
            return i + 1
    return None


def fill(command: Sequence[str], values: Mapping[str, Any], base_dir: Path | None = None) -> list[str]:
    """The command with its placeholders replaced (shell-quoted inside a shell script) and, with
    ``base_dir``, its parts that name a path there made absolute; an unknown placeholder is the
    trial's failure."""
    script = shell_script_index(command)

    def filler(quote: bool):
        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name not in values:
                raise TrialFailure(f"command placeholder {{{name}}} names no param or weight")
            text = str(values[name])
            return shlex.quote(text) if quote else text

        return one

    out = []
    for i, part in enumerate(command):
        if base_dir is not None and not PLACEHOLDER.search(part):
            part = study_path(part, base_dir)
        out.append(PLACEHOLDER.sub(filler(i == script), part))
    return out


def study_path(part: str, base_dir: Path) -> str:
    """``part`` as an absolute path when it is a relative path to something in ``base_dir``
    (a file with a suffix, or a path with a folder in it), else unchanged."""
    if not part or part.startswith("-") or os.path.isabs(part) or "\n" in part:
        return part
    path = Path(part)
    if "/" not in part and not path.suffix:
        return part  # a bare word (``ok``, ``python``) is an argument or a program, not a path
    try:
        candidate = base_dir / path
        return str(candidate.resolve()) if candidate.exists() else part
    except (OSError, ValueError):
        return part


def check_placeholders(command: Sequence[str], spec: Any) -> str | None:
    """A problem with the command's placeholders, or None: each must name a param (searched,
    fixed in ``trainer.params`` or a training setting), a weight ``w.<loss>`` or a fixed name."""
    terms = tuple(spec.losses.terms or [t for m in spec.losses.groups.values() for t in m])
    known = {*spec.search.params, *spec.trainer.params, *spec.train.model_dump(), *FIXED_NAMES,
             *(f"w.{n}" for n in spec.losses.balanced_names(terms))}
    for part in command:
        for name in PLACEHOLDER.findall(part):
            if name not in known:
                return f"placeholder {{{name}}} names no param or weight"
    return None
