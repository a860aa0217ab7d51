"""Old home of the study checks; they are in :mod:`paretolab.spec.checks` now."""

from paretolab.spec.checks import CheckedStudy, _did_you_mean, check_study, resolve_task_ref  # noqa: F401
