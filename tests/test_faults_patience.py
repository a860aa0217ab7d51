"""A spawned worker whose first storage connection falls in an outage waits with
``storage_patience`` instead of quitting (issue 26, item 6)."""

from __future__ import annotations

import signal

import pytest

from paretolab import worker_process
from paretolab.errors import StorageError
from paretolab.patience import with_patience


def _unreachable() -> StorageError:
    return StorageError("cannot reach storage 'postgresql://u:***@db/x': connection refused", where="storage")


def test_an_outage_is_waited_out_within_the_patience():
    calls, slept = [], []

    def opener() -> str:
        calls.append(1)
        if len(calls) <= 3:
            raise _unreachable()
        return "opened"

    assert with_patience(opener, 60, sleep=slept.append, clock=lambda: float(sum(slept))) == "opened"
    assert len(calls) == 4 and slept == [0.5, 1.0, 2.0]


def test_past_the_patience_or_for_a_mistake_the_error_is_raised():
    slept: list[float] = []
    with pytest.raises(StorageError, match="cannot reach"):
        with_patience(lambda: (_ for _ in ()).throw(_unreachable()), 5, sleep=slept.append,
                      clock=lambda: float(sum(slept)))
    assert sum(slept) >= 5
    with pytest.raises(StorageError, match="not a storage URL"):  # no outage: no waiting
        with_patience(lambda: (_ for _ in ()).throw(StorageError("'x' is not a storage URL")), 60,
                      sleep=lambda s: pytest.fail("waited for a mistake"))


@pytest.mark.slow  # checks a digits study (imports torch, sklearn)
def test_a_spawned_worker_retries_its_first_connection(tmp_path, monkeypatch):
    import torch

    from paretolab.spec import parse_spec

    spec = parse_spec("name: w\ntask: digits\nlosses: [ce, l1]\nobjectives: [nll, error]\n"
                      "budget: {trials: 2, steps: 2}\n",
                      filename=str(tmp_path / "study.yaml"), source=str(tmp_path / "study.yaml"))
    failures = [2]
    seen = {}

    def flaky_open(checked, options, index, **kwargs):
        if failures[0]:
            failures[0] -= 1
            raise _unreachable()
        return "storage", "study"

    def fake_run_worker(checked, options, **kwargs):
        seen.update(kwargs)
        return None

    monkeypatch.setattr(worker_process, "open_worker_study", flaky_open)
    monkeypatch.setattr(worker_process, "run_worker", fake_run_worker)
    monkeypatch.setattr("paretolab.logs.setup_worker_logging", lambda *a: None)
    monkeypatch.setattr("time.sleep", lambda s: None)
    threads, sigint = torch.get_num_threads(), signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as exit_info:
            worker_process.worker_main(spec.model_dump(mode="json"), spec.source, 1, "cpu", threads, None,
                               {"storage_patience": 120.0})
    finally:  # worker_main ends by ignoring Ctrl-C: give this process its handler back
        torch.set_num_threads(threads)
        signal.signal(signal.SIGINT, sigint)
    assert exit_info.value.code == 0 and failures == [0]
    assert seen["opened"] == ("storage", "study")
