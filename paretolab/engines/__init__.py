"""Workers beyond one machine's processes: on a Ray cluster (:mod:`.ray`), as Slurm jobs
(:mod:`.slurm`). Each worker runs the same loop as a local one (:mod:`paretolab.worker`) against
the study's storage, so budgets, lost trials and interrupts behave as in a local run.

Ray and submitit are optional (``pip install 'paretolab[ray]'``, ``'paretolab[slurm]'``);
:func:`require` turns a missing one into one line saying what to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from paretolab.errors import UserError


def require(module: str, extra: str, what: str) -> ModuleType:
    """Import ``module``, or raise the UserError naming the extra that installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{what} needs {module}, which is not installed",
                        hint=f"pip install 'paretolab[{extra}]'") from None
