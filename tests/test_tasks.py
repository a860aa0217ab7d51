"""The built-in tasks: contract, deterministic data, learnability and known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paretolab.errors import TaskError
from paretolab.tasks import make_task
from paretolab.tasks.digits import confidence_penalty, expected_calibration_error
from paretolab.tasks.toy import PARETO_X2, pareto_distance, pareto_x2, toy_losses

CPU = torch.device("cpu")

# small params keep the contract tests fast
TASKS = [
    ("toy", {}),
    ("toy", {"start": [9.0, 9.0], "scale": 0.1}),
    ("digits", {"hidden": 16, "depth": 2}),
    ("multitask_regression", {"n_tasks": 3, "n_train": 128, "n_val": 64}),
]
DATA_TASKS = [("digits", {}), ("multitask_regression", {"n_train": 128, "n_val": 64})]


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These models are tiny: one intra-op thread is as fast and does not suffer from busy CPUs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _evaluate(task, model) -> dict[str, float]:
    model.eval()
    with torch.no_grad():
        return dict(task.evaluate(model, CPU))


def _train(task, weights: dict[str, float], steps: int, lr: float, seed: int = 0, batch_size: int = 64):
    """Adam on the weighted sum of the task's losses; returns the model (what a static balancer does)."""
    torch.manual_seed(seed)
    model = task.build_model()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    batches = task.batches(batch_size, torch.Generator().manual_seed(seed))
    model.train()
    for _ in range(steps):
        losses = task.compute_losses(model, next(batches))
        total = sum(weights[name] * losses[name] for name in task.losses)
        opt.zero_grad()
        total.backward()
        opt.step()
    return model


# --- contract, for every built-in task ---------------------------------------------------------


@pytest.mark.parametrize(("name", "params"), TASKS)
def test_losses_are_named_finite_scalars_with_gradients_on_shared_parameters(name, params):
    torch.manual_seed(0)
    task = make_task(name, params)
    model = task.build_model()
    batch = next(task.batches(32, torch.Generator().manual_seed(0)))
    losses = task.compute_losses(model, batch)
    assert tuple(losses) == tuple(task.losses)
    shared = list(task.shared_parameters(model))
    assert shared
    for loss_name, loss in losses.items():
        assert loss.ndim == 0 and torch.isfinite(loss), loss_name
        grads = torch.autograd.grad(loss, shared, allow_unused=True, retain_graph=True)
        norms = [float(g.norm()) for g in grads if g is not None]
        assert norms and max(norms) > 0, f"{loss_name} does not reach the shared parameters"


@pytest.mark.parametrize(("name", "params"), TASKS)
def test_evaluate_returns_exactly_the_declared_metrics_as_floats(name, params):
    torch.manual_seed(0)
    task = make_task(name, params)
    metrics = _evaluate(task, task.build_model())
    assert tuple(metrics) == tuple(task.metrics)
    assert all(type(v) is float and math.isfinite(v) for v in metrics.values()), metrics


@pytest.mark.parametrize(("name", "params"), DATA_TASKS)
def test_same_data_seed_gives_identical_data_and_another_seed_different(name, params):
    torch.manual_seed(1)
    a = make_task(name, {**params, "data_seed": 3})
    torch.manual_seed(2)  # the global RNG must not matter
    b = make_task(name, {**params, "data_seed": 3})
    c = make_task(name, {**params, "data_seed": 4})
    for attr in ("x_train", "y_train", "x_val", "y_val"):
        assert torch.equal(getattr(a, attr), getattr(b, attr)), attr
    assert not torch.equal(a.x_train, c.x_train)
    assert not torch.equal(a.x_val, c.x_val)


@pytest.mark.parametrize(("name", "params"), DATA_TASKS)
def test_batches_follow_the_generator(name, params):
    task = make_task(name, params)
    first = [next(task.batches(16, torch.Generator().manual_seed(5))) for _ in range(2)]
    other = next(task.batches(16, torch.Generator().manual_seed(6)))
    assert all(torch.equal(p, q) for p, q in zip(*first))
    assert not torch.equal(first[0][0], other[0])
    assert len(first[0][0]) == 16


def test_bad_params_are_user_errors():
    with pytest.raises(TaskError, match="start"):
        make_task("toy", {"start": [1.0]})
    with pytest.raises(TaskError, match="scales"):
        make_task("multitask_regression", {"n_tasks": 3, "scales": [1.0, 2.0]})
    with pytest.raises(TaskError, match="does not accept"):
        make_task("digits", {"widht": 3})


# --- toy -----------------------------------------------------------------------------------------


def test_toy_known_values_at_the_mean_loss_optimum():
    x = torch.tensor([0.0, PARETO_X2], dtype=torch.float64, requires_grad=True)
    loss1, loss2 = toy_losses(x, scale=1.0)
    assert loss1.item() == pytest.approx(-15.09, abs=0.01)
    assert loss2.item() == pytest.approx(-15.09, abs=0.01)
    g1 = torch.autograd.grad(loss1, x, retain_graph=True)[0]
    g2 = torch.autograd.grad(loss2, x)[0]
    # Pareto-stationary and the optimum of the mean: the two gradients cancel
    assert float(torch.nn.functional.cosine_similarity(g1, g2, dim=0)) == pytest.approx(-1.0, abs=1e-6)
    assert float((g1 + g2).norm()) < 1e-4
    # s scales loss1 only (the badly scaled pair of Nash-MTL / FAMO)
    scaled1, scaled2 = toy_losses(x.detach(), scale=0.1)
    assert float(scaled1) == pytest.approx(0.1 * loss1.item())
    assert float(scaled2) == pytest.approx(loss2.item())


def test_toy_task_starts_at_start_and_reports_distance_to_pareto_set():
    task = make_task("toy", {"start": [-8.5, 7.5]})
    model = task.build_model()
    assert model.x.tolist() == [-8.5, 7.5]
    assert next(task.batches(8, torch.Generator())) is None
    metrics = _evaluate(task, model)
    # the nearest point of the Pareto set is its end at x1 = -7, the minimum of loss2
    assert metrics["pareto_distance"] == pytest.approx(math.hypot(1.5, 7.5 - _critical_x2(-7.0)))
    loss1, loss2 = toy_losses(torch.tensor([-8.5, 7.5]))
    assert metrics["loss1"] == pytest.approx(float(loss1))
    assert metrics["loss2"] == pytest.approx(float(loss2))
    assert pareto_distance([3.0, _critical_x2(3.0)]) < 1e-8
    assert pareto_distance([0.0, 0.0]) == pytest.approx(-_critical_x2(0.0))


def _gradients(x1, x2) -> tuple[torch.Tensor, torch.Tensor]:
    """Autograd's gradients of the two losses at the points (x1[k], x2[k]), as (2, n) tensors."""
    x = torch.tensor(np.array([x1, x2], dtype=np.float64).reshape(2, -1), requires_grad=True)
    loss1, loss2 = toy_losses(x)
    return (torch.autograd.grad(loss1.sum(), x, retain_graph=True)[0], torch.autograd.grad(loss2.sum(), x)[0])


def _critical_x2s(x1: np.ndarray) -> np.ndarray:
    """Independent reference: for each x1, the x2 in [-12, -5] where autograd's gradients are parallel.

    Bisection on the sign of the gradients' cross product, 64 halvings (to the last bits).
    """
    def cross(x2: np.ndarray) -> np.ndarray:
        g1, g2 = _gradients(x1, x2)
        return (g1[0] * g2[1] - g1[1] * g2[0]).numpy()
    lo, hi = np.full(len(x1), -12.0), np.full(len(x1), -5.0)
    f_lo = cross(lo)
    assert (np.sign(f_lo) != np.sign(cross(hi))).all()
    for _ in range(64):
        mid = (lo + hi) / 2
        f_mid = cross(mid)
        same = np.sign(f_mid) == np.sign(f_lo)
        lo, f_lo, hi = np.where(same, mid, lo), np.where(same, f_mid, f_lo), np.where(same, hi, mid)
    return (lo + hi) / 2


def _critical_x2(x1: float) -> float:
    return float(_critical_x2s(np.array([x1]))[0])


def _polyline_distance(point, vertices: np.ndarray) -> float:
    a, b = vertices[:-1], vertices[1:]
    d = b - a
    t = np.clip(((point - a) * d).sum(axis=1) / (d * d).sum(axis=1), 0.0, 1.0)
    return float(np.min(np.hypot(*(a + t[:, None] * d - point).T)))


@pytest.mark.parametrize("x1", [-7.0, -6.0, -3.5, -1.0, 0.0, 0.4, 2.5, 5.0, 7.0])
def test_toy_pareto_distance_is_zero_on_the_pareto_curve(x1):
    """The Pareto set is a curve (x2 from -8.3551 at x1 = 0 to -8.4345 at |x1| = 7), not x2 = -8.3552."""
    x2 = _critical_x2(x1)
    g1, g2 = (g[:, 0] for g in _gradients(x1, x2))
    if abs(x1) < 7:  # anti-parallel: Pareto-critical (at the ends one gradient is 0)
        assert float(torch.nn.functional.cosine_similarity(g1, g2, dim=0)) == pytest.approx(-1.0, abs=1e-9)
    assert pareto_x2(x1) == pytest.approx(x2, abs=1e-12)
    assert pareto_distance([x1, x2]) < 1e-8


def test_toy_pareto_curve_is_not_dominated_and_distances_match_a_dense_sampling():
    ends, middle = _critical_x2(7.0), _critical_x2(0.0)
    assert middle == pytest.approx(-8.3551, abs=1e-4) and ends == pytest.approx(-8.4345, abs=1e-4)
    x1 = np.linspace(-7, 7, 1401)
    curve = np.stack([x1, _critical_x2s(x1)], axis=1)
    # no point of a dense box around the set is strictly better in both losses than the curve
    grid = torch.cartesian_prod(torch.linspace(-9, 9, 181, dtype=torch.float64),
                                torch.linspace(-9.5, -7.5, 201, dtype=torch.float64)).T
    f1, f2 = toy_losses(grid)
    c1, c2 = toy_losses(torch.from_numpy(curve[::25].T.copy()))
    dominated = (f1[:, None] < c1[None, :] - 1e-12) & (f2[:, None] < c2[None, :] - 1e-12)
    assert not dominated.any()
    # off the curve: the distance to the reference curve sampled every 0.01 (chords within 1e-7)
    for point in ([0.0, 0.0], [2.0, -8.0], [-3.0, -9.0], [8.0, -8.5], [-9.0, 3.0], [0.5, -40.0]):
        assert pareto_distance(point) == pytest.approx(_polyline_distance(np.array(point), curve), abs=1e-6)


def test_toy_gradient_steps_move_towards_the_pareto_set():
    task = make_task("toy", {"start": [0.0, -5.0]})
    model = _train(task, {"loss1": 0.5, "loss2": 0.5}, steps=300, lr=0.05)
    assert _evaluate(task, model)["pareto_distance"] < 0.2 < pareto_distance([0.0, -5.0])


# --- digits --------------------------------------------------------------------------------------


def test_ece_on_a_hand_made_case():
    # confidences kept off the bin edges (k/15); bins are (lo, hi]
    # conf 0.9: four predictions, three right -> |0.75 - 0.9| = 0.15, weight 4/8
    # conf 0.7: two predictions, both right   -> |1.0 - 0.7| = 0.30, weight 2/8
    # conf 0.5: two predictions, both wrong   -> |0.0 - 0.5| = 0.50, weight 2/8
    rows = [[0.9, 0.1, 0.0]] * 4 + [[0.7, 0.3, 0.0]] * 2 + [[0.25, 0.25, 0.5]] * 2
    probs = torch.tensor(rows)
    labels = torch.tensor([0, 0, 0, 1, 0, 0, 0, 0])  # the last two predict class 2
    expected = 0.5 * 0.15 + 0.25 * 0.30 + 0.25 * 0.50
    assert expected_calibration_error(probs, labels) == pytest.approx(expected, abs=1e-6)
    # one bin lets the errors cancel: |accuracy - confidence| overall = |5/8 - 0.75| = 0.125
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(0.125, abs=1e-6)
    # predictions sharing a bin are averaged before |acc - conf|: 0.75 (right) and 0.95 (wrong)
    # share (0.5, 1] with 2 bins -> |0.5 - 0.85|; with 15 bins they are apart -> (0.25 + 0.95) / 2
    pair = torch.tensor([[0.75, 0.25], [0.95, 0.05]])
    assert expected_calibration_error(pair, torch.tensor([0, 1]), n_bins=2) == pytest.approx(0.35, abs=1e-6)
    assert expected_calibration_error(pair, torch.tensor([0, 1]), n_bins=15) == pytest.approx(0.6, abs=1e-6)
    # perfectly calibrated: 0.75-confident and right three times in four
    calibrated = torch.tensor([[0.75, 0.25]] * 4)
    assert expected_calibration_error(calibrated, torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0, abs=1e-9)


def test_confidence_penalty_is_zero_for_uniform_and_log_c_for_one_hot():
    assert float(confidence_penalty(torch.zeros(3, 10))) == pytest.approx(0.0, abs=1e-6)
    penalty = confidence_penalty(torch.tensor([[100.0, 0.0, 0.0, 0.0]]))
    assert float(penalty) == pytest.approx(math.log(4), abs=1e-4)


def test_digits_is_learnable_and_the_l1_loss_buys_sparsity():
    task = make_task("digits", {})
    untrained = _evaluate(task, (torch.manual_seed(0), task.build_model())[1])
    assert untrained["error"] > 0.5
    plain = _evaluate(task, _train(task, {"ce": 1.0, "l1": 0.0, "confidence": 0.1}, steps=300, lr=1e-2))
    assert plain["error"] < 0.1  # chance is 0.9
    assert plain["nll"] < 0.5 * untrained["nll"]
    sparse = _evaluate(task, _train(task, {"ce": 1.0, "l1": 1.0, "confidence": 0.1}, steps=300, lr=1e-2))
    assert sparse["sparsity"] > plain["sparsity"] + 0.2
    assert sparse["error"] < 0.2


# --- multitask regression ------------------------------------------------------------------------


def test_multitask_names_scales_and_structure():
    task = make_task("multitask_regression", {"n_tasks": 3, "n_train": 64, "n_val": 32})
    assert task.losses == ("task0", "task1", "task2")
    assert task.metrics == ("task0", "task1", "task2", "mean")
    assert task.scales == pytest.approx((1.0, math.sqrt(10.0), 10.0))
    torch.manual_seed(0)
    model = task.build_model()
    batch = next(task.batches(16, torch.Generator().manual_seed(0)))
    assert task.representation_module(model)(batch[0]).shape == (16, 64)
    shared = {id(p) for p in task.shared_parameters(model)}
    assert shared == {id(p) for p in model.trunk.parameters()}
    # a task's loss reaches every trunk parameter and its own head only
    losses = task.compute_losses(model, batch)
    trunk = list(model.trunk.parameters())
    heads = [model.heads[0].weight, model.heads[1].weight]
    grads = torch.autograd.grad(losses["task0"], trunk + heads, allow_unused=True)
    norms = [0.0 if g is None else float(g.norm()) for g in grads]
    assert all(n > 0 for n in norms[: len(trunk)])
    assert norms[-2] > 0 and norms[-1] == 0.0


def test_multitask_conflict_makes_tasks_less_alike():
    def task_correlation(conflict: float) -> float:
        params = {"conflict": conflict, "noise": 0.0, "n_train": 256, "n_val": 8}
        task = make_task("multitask_regression", params)
        y0 = task.y_train[:, 0].flatten() / task.scales[0]
        y1 = task.y_train[:, 1].flatten() / task.scales[1]
        return float(torch.corrcoef(torch.stack([y0, y1]))[0, 1])

    assert task_correlation(0.0) == pytest.approx(1.0, abs=1e-6)
    assert task_correlation(1.0) < 0.8
    assert task_correlation(3.0) < task_correlation(1.0) - 0.2


def test_multitask_training_lowers_the_normalised_mse_and_the_tasks_trade_off():
    task = make_task("multitask_regression", {})
    torch.manual_seed(0)
    untrained = _evaluate(task, task.build_model())
    assert untrained["mean"] > 0.9  # ~1 means predicting the mean
    both = _evaluate(task, _train(task, {"task0": 1.0, "task1": 1.0}, steps=300, lr=1e-3))
    assert both["mean"] < 0.6 * untrained["mean"]
    only0 = _evaluate(task, _train(task, {"task0": 1.0, "task1": 0.0}, steps=300, lr=1e-3))
    only1 = _evaluate(task, _train(task, {"task0": 0.0, "task1": 1.0}, steps=300, lr=1e-3))
    assert only0["task0"] < only1["task0"]
    assert only1["task1"] < only0["task1"]
