"""benchmarks/bench_gpu.py runs where there is no GPU: it says so in one line and measures the CPU
training speed only (exit 0), so the script is ready for a machine that has one."""

from __future__ import annotations

import pytest
import torch

from benchmarks import bench_gpu


def test_without_cuda_a_dry_run_plans_the_cpu_part_only(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.main(["--dry-run", "--steps", "10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["no CUDA device: running (a) on the CPU only; (b) and (c) need a GPU",
                   "(a) digits, hidden 64, batch 64: 10 and 20 steps x 3 on cpu, balancers static, upgrad"]


@pytest.mark.slow  # trains the digits task a few times (seconds)
def test_without_cuda_it_says_so_and_measures_the_cpu_only(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert bench_gpu.main(["--steps", "3", "--hidden", "4", "--batch-size", "8", "--balancers", "static",
                           "--repeats", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "no CUDA device: running (a) on the CPU only; (b) and (c) need a GPU"
    rows = [line for line in out if line.startswith("static") and "steps/s" in line]
    assert len(rows) == 1 and " cpu " in rows[0] and "cuda" not in "".join(out[1:])


def test_a_trial_that_saw_another_gpu_fails_the_check(capsys):
    uuids = {"0": "GPU-aaa", "1": "GPU-bbb"}
    good = [{"trial": 0, "pid": 10, "visible": "0", "count": 1, "uuid": "GPU-aaa"},
            {"trial": 1, "pid": 11, "visible": "1", "count": 1, "uuid": "GPU-bbb"}]
    assert bench_gpu.check_workers(good, uuids)
    shared = [dict(good[0]), dict(good[1], visible="0", uuid="GPU-aaa")]  # both workers on GPU 0
    assert not bench_gpu.check_workers(shared, uuids)
    sees_all = [dict(good[0], count=2)]
    assert not bench_gpu.check_workers(sees_all, uuids)


@pytest.mark.slow  # pre-trains a tiny starting model and times a few GRPO steps (seconds)
def test_the_posttrain_timing_runs_on_the_cpu(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("PARETOLAB_POSTTRAIN_CACHE", str(tmp_path))
    tiny = {"layers": 1, "width": 16, "heads": 2, "pretrain_steps": 3, "group": 2, "eval_prompts": 4}
    rates = bench_gpu.posttrain_table(["cpu"], 2, params=tiny, batch_size=2, repeats=1)
    out = capsys.readouterr().out
    assert set(rates) == {"cpu"} and "posttrain cpu" in out and "ratio" not in out
    assert bench_gpu.posttrain_config(3, tiny).task == "posttrain"
