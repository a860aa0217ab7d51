"""Errors a user can cause. The CLI turns them into one clear message and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad spec, unknown name, unreachable storage, ...).

    ``where`` names the field or file (and line when known); ``hint`` says how to fix it.
    """

    exit_code = 2

    def __init__(self, message: str, *, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.render())

    def render(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  fix: {self.hint}"
        return text


class SpecError(UserError):
    """The study file is invalid."""


class TaskError(UserError):
    """A task could not be loaded or does not fit the study file."""


class StorageError(UserError):
    """The study storage cannot be reached or used."""


class TrialFailure(RuntimeError):
    """A trial failed for a reason worth keeping (NaN loss, task exception); the study goes on."""


class StudyStopped(UserError):
    """The study stopped itself rather than spend its budget: its trials keep failing."""
