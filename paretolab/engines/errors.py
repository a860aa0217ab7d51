"""A worker's end, carried back from another process (a Ray task, a Slurm job) to the command
that started it: its exit code and, for a user error, its class and text to raise there."""

from __future__ import annotations

from dataclasses import dataclass

from paretolab import errors

_CLASSES = {cls.__name__: cls for cls in (errors.UserError, errors.SpecError, errors.TaskError,
                                          errors.StorageError, errors.StudyStopped)}


@dataclass(frozen=True)
class WorkerEnd:
    """How one remote worker ended: ``code`` 0 at the budget, 128 + a signal when stopped, or the
    exit code of the user error it stopped on (``error``: class name, message, where, hint)."""

    label: str
    code: int
    error: tuple[str, str, str | None, str | None] | None = None

    @classmethod
    def from_error(cls, label: str, exc: errors.UserError) -> WorkerEnd:
        return cls(label, exc.exit_code, (type(exc).__name__, exc.message, exc.where, exc.hint))

    def raise_error(self) -> None:
        """Raise the user error this worker stopped on, as its own class; nothing otherwise."""
        if self.error is None:
            return
        name, message, where, hint = self.error
        raise _CLASSES.get(name, errors.UserError)(message, where=where, hint=hint)
