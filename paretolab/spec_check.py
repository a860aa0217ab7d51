"""Old home of the study checks, kept until every import says :mod:`paretolab.spec`."""

from paretolab.spec.checks import CheckedStudy, check_study, resolve_task_ref  # noqa: F401
