"""The JSON Schema of study files, for editors (``paretolab schema``).

Generated from the models: each model and field declares the short forms its validator accepts
(``task: toy``, ``losses: [a, b]``, ``objectives: [error]``, ``sampler: tpe``, ...) beside the
validator, so nothing here repeats the grammar.
"""

from __future__ import annotations

from typing import Any

from paretolab.spec.models import StudySpec


def json_schema() -> dict[str, Any]:
    """JSON Schema of the study file, short forms included."""
    schema = StudySpec.model_json_schema()
    schema["title"] = "paretolab study file"
    return schema
