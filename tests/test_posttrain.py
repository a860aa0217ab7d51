"""The ``posttrain`` task: its rewards, GRPO's pieces by hand, the cached starting checkpoint,
a short trial that reproduces bit for bit, and a tiny study end to end. Every test pre-trains a
tiny model (a few steps) into its own cache folder, never the user's."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import torch

from paretolab.errors import TaskError
from paretolab.search_space import TrialConfig
from paretolab.tasks import make_task
from paretolab.tasks.posttrain import samples
from paretolab.tasks.posttrain.corpus import completion_text, corpus_batch, encode, prompt_text
from paretolab.tasks.posttrain.grpo import clipped_surrogates, group_advantages, kl_k3
from paretolab.tasks.posttrain.model import completion_mask
from paretolab.tasks.posttrain.pretrain import CACHE_ENV, checkpoint_path
from paretolab.tasks.posttrain.rewards import boxed_format, brief, correct
from paretolab.trainer import train

from conftest import cli, write

TINY = {"layers": 1, "width": 16, "heads": 2, "pretrain_steps": 3, "group": 4, "eval_prompts": 8,
        "max_new": 8}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    """Tiny tensors: more threads only contend on a busy machine (30x slower on 2 busy cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV, str(folder))
    return folder


def config(params: dict | None = None, steps: int = 2, seed: int = 0, train_extra: dict | None = None,
           weights: dict | None = None) -> TrialConfig:
    names = ["correct", "brief", "format", "kl"]
    return TrialConfig(
        weights=weights or {n: 0.25 for n in names}, balancer={"method": "static", "settings": {}},
        train={"lr": 1e-3, "optimizer": "adam", "weight_decay": 0.0, "momentum": 0.9, "batch_size": 2,
               "grad_clip": 1.0, "lr_schedule": "constant", "warmup_steps": 0, **(train_extra or {})},
        task="posttrain", task_params={**TINY, **(params or {})},
        loss_groups={n: {n: 1.0} for n in names}, seed=seed, steps=steps, eval_every=steps)


# --- rewards and the corpus ---------------------------------------------------------------------
def test_rewards_score_what_they_say_and_conflict() -> None:
    assert correct("46", 46, 16) == correct("[46] (12+34)", 46, 16) == 1.0
    assert correct("4", 46, 16) == correct("", 46, 16) == correct("[47]", 46, 16) == 0.0
    assert brief("", 46, 16) == 1.0 and brief("46", 46, 16) == 0.875 and brief("x" * 20, 46, 16) == 0.0
    assert boxed_format("[46]", 46, 16) == boxed_format("[7] (1+2)", 46, 16) == 1.0
    assert boxed_format("46", 46, 16) == boxed_format("46 [46]", 46, 16) == 0.0
    # the briefest completion is wrong, and boxing the right answer costs length
    assert brief("", 46, 16) > brief("46", 46, 16) > brief("[46]", 46, 16)


def test_the_corpus_teaches_only_the_answer_tokens() -> None:
    ids, mask = corpus_batch(16, torch.Generator().manual_seed(0), boxed=0.5, verbose=0.5)
    for row, learn in zip(ids, mask):
        prompt = "".join(completion_text(row[:8])[0])
        a, b = int(prompt[:3]), int(prompt[4:7])
        answer, ended = completion_text(row[learn])
        assert ended and correct(answer, a + b, 16) == 1.0
    assert encode(prompt_text(7, 12)) == encode("007+012=")


# --- GRPO by hand -------------------------------------------------------------------------------
def test_group_advantages_are_relative_to_each_group() -> None:
    rewards = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 2.0], [1.0, 4.0]])  # 2 groups of 2
    centered = group_advantages(rewards, 2, "centered")
    assert torch.allclose(centered, torch.tensor([[0.5, 0.0], [-0.5, 0.0], [0.0, -1.0], [0.0, 1.0]]))
    standardized = group_advantages(rewards, 2, "standardized")
    assert torch.allclose(standardized, torch.tensor([[1.0, 0.0], [-1.0, 0.0], [0.0, -1.0], [0.0, 1.0]]),
                          atol=1e-3)


def test_kl_estimator_is_never_negative_and_zero_at_the_reference() -> None:
    log_p = torch.log_softmax(torch.randn(64, 5, generator=torch.Generator().manual_seed(0)), dim=-1)
    log_q = torch.log_softmax(torch.randn(64, 5, generator=torch.Generator().manual_seed(1)), dim=-1)
    assert (kl_k3(log_p, log_q) >= 0).all()
    assert torch.equal(kl_k3(log_p, log_p), torch.zeros_like(log_p))
    # on tokens drawn from p its mean estimates KL(p || q)
    draws = torch.multinomial(log_p.exp(), 4000, replacement=True, generator=torch.Generator().manual_seed(2))
    estimate = kl_k3(log_p.gather(1, draws), log_q.gather(1, draws)).mean(dim=1)
    exact = (log_p.exp() * (log_p - log_q)).sum(dim=1)
    assert torch.allclose(estimate, exact, rtol=0.25, atol=0.02)


def test_clipped_surrogate_stops_the_gradient_outside_the_clip_range() -> None:
    old = torch.zeros(2, 1)
    new = torch.tensor([[0.5], [0.05]], requires_grad=True)  # ratios 1.65 (clipped) and 1.05
    mask = torch.ones(2, 1)
    losses = clipped_surrogates(new, old, torch.tensor([[1.0], [1.0]]), mask, clip=0.2)
    losses.sum().backward()
    assert new.grad is not None and new.grad[0, 0] == 0.0 and new.grad[1, 0] < 0


def test_completion_mask_keeps_the_tokens_up_to_the_first_end() -> None:
    completions = torch.tensor([encode("46;;;"), encode("[46]:".replace(":", ";")), encode("12345")])
    assert completion_mask(completions).sum(dim=1).tolist() == [3.0, 5.0, 5.0]


# --- the task -----------------------------------------------------------------------------------
def test_the_starting_checkpoint_is_pretrained_once_and_reused(cache: Path) -> None:
    first = make_task("posttrain", TINY)
    path = checkpoint_path(first.pretrain_config)
    assert not path.exists()
    model = first.build_model()
    assert path.is_file() and path.parent.parent == cache
    info = json.loads((path.parent / "config.json").read_text())
    assert info["steps"] == 3 and "seconds" in info
    stamp = path.stat().st_mtime_ns
    again = make_task("posttrain", TINY).build_model()  # a new trial: read, not trained again
    assert path.stat().st_mtime_ns == stamp
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    # a different configuration is another folder; the model saves and loads as a state dict
    other = make_task("posttrain", {**TINY, "pretrain_steps": 4})
    assert checkpoint_path(other.pretrain_config) != path
    fresh = make_task("posttrain", TINY).build_model()
    torch.nn.init.zeros_(fresh.head.weight)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.head.weight, model.head.weight)


def test_a_two_step_trial_reports_every_reward_and_the_kl_and_reproduces() -> None:
    first = train(config(steps=2), "cpu")
    assert set(first.metrics) == {"correct", "brief", "format", "length", "kl", "difficulty"}
    assert first.metrics["kl"] >= 0 and 0 <= first.metrics["correct"] <= 1
    assert set(first.curves) >= {"loss:correct", "loss:brief", "loss:format", "loss:kl"}
    again = train(config(steps=2), "cpu")
    assert again.metrics == first.metrics and again.curves == first.curves
    other = train(config(steps=2, seed=1), "cpu")
    assert other.curves["loss:kl"] != first.curves["loss:kl"]


def test_the_curriculum_sets_the_prompt_difficulty() -> None:
    result = train(config(steps=2, train_extra={"curriculum": "linear", "curriculum_initial": 1.0,
                                                "curriculum_final": 3.0}), "cpu")
    assert result.metrics["difficulty"] == 3.0  # after the last step: progress 1


def test_bad_params_name_the_param() -> None:
    with pytest.raises(TaskError, match="rewards"):
        make_task("posttrain", {"rewards": ["correct", "kindness"]})
    with pytest.raises(TaskError, match="advantages"):
        make_task("posttrain", {"advantages": "whitened"})


@pytest.mark.slow
def test_a_tiny_study_runs_end_to_end_and_picks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    study = write(tmp_path, f"""
        name: pt
        task: {{ref: posttrain, params: {json.dumps(TINY)}}}
        losses: [correct, brief, kl]
        objectives:
          - {{name: correct, direction: maximize}}
          - {{name: length, direction: minimize}}
        constraints: [kl <= 5.0]
        search: {{weights: simplex, balancer: [static]}}
        train: {{lr: 0.003, batch_size: 2}}
        budget: {{trials: 3, steps: 2}}
        workers: 1
        seed: 0
    """)
    cli("run", str(study), "--no-progress")
    trials = pd.read_csv(tmp_path / "reports" / "pt" / "trials.csv")
    assert len(trials) == 3 and (trials["state"] == "COMPLETE").all()
    assert (trials["metric:kl"] >= 0).all() and trials["correct"].between(0, 1).all()
    cli("pick", str(tmp_path / "reports" / "pt"), "--trial", "1")
    pick = tmp_path / "reports" / "pt" / "pick.yaml"
    assert "posttrain" in pick.read_text()
    # the sampling helper retrains the pick and shows completions of held-out prompts
    assert samples.main([str(pick), "--prompts", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3].startswith("trial 1: weights correct") and all("= -> '" in x for x in lines[-2:])


def test_the_shipped_study_validates_and_the_readme_shows_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.chdir(tmp_path)  # the storage check may create reports/ here
    study = Path(__file__).resolve().parents[1] / "studies" / "posttrain.yaml"
    out = " ".join(cli("validate", "--no-run", str(study)).split())
    assert out.startswith("ok ") and "task posttrain" in out
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("## Post-training: rewards, KL and TRL", 1)[1].split("\n## ", 1)[0]
    shown = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])
    shipped = yaml.safe_load(study.read_text())
    assert shown == {k: shipped[k] for k in shown}
