"""Resuming refuses a changed trainer function, command or fixed params: their trials would mean
something else than the stored ones (issue 26, item 4)."""

from __future__ import annotations

import pytest

from paretolab.errors import SpecError
from paretolab.spec import parse_spec
from paretolab.spec.resume import check_unchanged

BASE = """\
name: own
trainer: {TRAINER}
losses: [a, b]
objectives: [e1, e2]
budget: {trials: 4, steps: 10}
"""


def _spec(trainer: str):
    return parse_spec(BASE.replace("{TRAINER}", trainer), filename="study.yaml")


@pytest.mark.parametrize("before,after,field", [
    ("{function: t.py:train, params: {hidden: 16}}", "{function: t.py:train, params: {hidden: 64}}",
     "trainer.params.hidden: 16 -> 64"),
    ("{function: t.py:train}", "{function: t.py:train_big}", "trainer.function: 't.py:train' -> "
     "'t.py:train_big'"),
    ("{command: [python, a.py]}", "{command: [python, b.py]}", "trainer.command"),
])
def test_resume_refuses_a_changed_trainer(before, after, field):
    stored = _spec(before).model_dump(mode="json")
    with pytest.raises(SpecError, match="changes what a trial means") as info:
        check_unchanged(stored, _spec(after))
    assert field in info.value.message


def test_resume_takes_a_changed_kill_grace():
    stored = _spec("{command: [python, a.py], kill_grace: 10}").model_dump(mode="json")
    check_unchanged(stored, _spec("{command: [python, a.py], kill_grace: 2}"))
