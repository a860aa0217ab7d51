"""The two-objective toy landscape of the CAGrad, Nash-MTL and FAMO papers: their published outcomes.

Adam with lr 1e-3 as in the papers, except for CAGrad (see its test); step counts are cut to
where the outcome already holds (measured: Adam on the mean is trapped by step ~3k; MGDA from
(-8.5, -5) is on the Pareto set by step ~8k and stays).
"""

from __future__ import annotations

import pytest
import torch

from paretolab.balancers import get_balancer_class, make_balancer
from paretolab.tasks.toy import PARETO_X2, pareto_distance, toy_losses

NAMES = ["loss1", "loss2"]


def train(method: str, starts: list[tuple[float, float]], steps: int,
          settings: dict | None = None, checkpoints: tuple[int, ...] = (), lr: float = 1e-3):
    """Adam (lr 1e-3 unless told) from each start; returns the end points and the points at
    ``checkpoints``.

    Several starts share one run only for the static sum (each point's gradient depends on that
    point alone, and Adam is per coordinate, so the runs stay independent).
    """
    x = torch.nn.Parameter(torch.tensor(starts, dtype=torch.float32))
    optimizer = torch.optim.Adam([x], lr=lr)
    balancer = make_balancer(method, NAMES, settings=settings)
    seen = {}
    for step in range(steps):
        optimizer.zero_grad()
        pairs = [toy_losses(p) for p in x]
        losses = {"loss1": sum(p[0] for p in pairs), "loss2": sum(p[1] for p in pairs)}
        balancer.set_progress(step, steps)
        balancer.backward(losses, [x])
        optimizer.step()
        if step + 1 in checkpoints:
            seen[step + 1] = x.detach().clone()
    return x.detach(), seen


def min_norm_of_hull(point: torch.Tensor) -> float:
    """|min-norm point of the convex hull of the two gradients| / max gradient norm (0: Pareto
    stationary)."""
    x = point.clone().requires_grad_(True)
    l1, l2 = toy_losses(x)
    g1 = torch.autograd.grad(l1, x, retain_graph=True)[0].double()
    g2 = torch.autograd.grad(l2, x)[0].double()
    a = ((g2 - g1) @ g2 / ((g1 - g2) @ (g1 - g2))).clamp(0, 1)
    return float((a * g1 + (1 - a) * g2).norm() / max(g1.norm(), g2.norm()))


@pytest.mark.slow
def test_adam_on_the_mean_loss_gets_stuck():
    starts = [(-8.5, 7.5), (9.0, 9.0), (-8.5, -5.0)]
    end, seen = train("static", starts, 6000, checkpoints=(4000,))
    for i in (0, 1):  # the two named starts: far from the Pareto set and barely moving
        assert pareto_distance(end[i]) > 10.0
        assert float((end[i] - seen[4000][i]).norm()) < 0.3
    # the same run from (-8.5, -5) reaches the Pareto set: it is a trap, not slowness
    assert pareto_distance(end[2]) < 0.2


@pytest.mark.slow
def test_mgda_ends_on_the_pareto_set():
    end, seen = train("mgda", [(-8.5, -5.0)], 9000, {"max_iters": 10}, checkpoints=(8000,))
    point = end[0]
    assert abs(float(point[1]) - PARETO_X2) < 0.1 and abs(float(point[0])) <= 7.05
    assert min_norm_of_hull(point) < 1e-2  # Pareto stationary
    assert float((point - seen[8000][0]).norm()) < 0.02  # and it stays there


#: CAGrad's Adam learning rate: 40x the papers' 1e-3 (see the test's docstring)
CAGRAD_LR = 4e-2
#: steps per start at CAGRAD_LR, about 1.3x the slowest arrival measured (see the docstring)
CAGRAD_STEPS = {(-8.5, 7.5): 8000, (-8.5, -5.0): 2000, (9.0, 9.0): 8000}


@pytest.mark.slow
@pytest.mark.skipif(bool(get_balancer_class("cagrad").missing_dependencies()),
                    reason='needs pip install "torchjd[cagrad]" (cvxpy, clarabel)')
@pytest.mark.parametrize("start", list(CAGRAD_STEPS))
def test_cagrad_reaches_the_mean_loss_optimum(start):
    """CAGrad (c = 0.5, s = 1) reaches the mean-loss optimum (0, -8.3552) and stays there.

    Departs from the paper's Adam lr 1e-3 / 100k steps on purpose: torchjd's CAGrad builds and
    solves a cvxpy problem every step (~6-7 ms on 2 cores, almost all of it cvxpy's compilation,
    not the solve), so the published schedule would take ~30 min for the three starts. With lr 1e-3
    the optimum is reached at ~60k steps from (-8.5, 7.5) and (9, 9) and ~12k from (-8.5, -5); the
    arrival step does not shrink in proportion to the lr (probably because Adam's second moment
    remembers the gradient spikes of the log valley for ~1/(1 - beta2) steps), and of the lrs
    tried (1e-3 ... 5e-2) 4e-2 needed the fewest steps in total. Measured arrivals at lr 4e-2 with
    an exact two-task solver of the same dual (each start and 7 starts perturbed by 1e-3): at most
    5.7k, 0.7k and 6.2k steps; torchjd's own runs: 3.9k from (-8.5, 7.5), 5.5k from (9, 9). The
    outcome is the same at every lr tried: only the time to reach it changes.
    We check the end point and that the point stayed at the optimum over the last 10% of steps.
    """
    steps = CAGRAD_STEPS[start]
    tail = tuple(range(steps - steps // 10, steps + 1, 100))
    end, seen = train("cagrad", [start], steps, {"c": 0.5}, checkpoints=tail, lr=CAGRAD_LR)
    for point in [*(p[0] for p in seen.values()), end[0]]:
        assert abs(float(point[0])) < 0.2 and abs(float(point[1]) - PARETO_X2) < 0.1, point


#: the five start points of the Nash-MTL and FAMO papers (scale 0.1)
FAMO_STARTS = [(-8.5, 7.5), (0.0, 0.0), (9.0, 9.0), (-7.5, -0.5), (9.0, -1.0)]
#: the toy's losses are bounded below by about -2 (loss1 = 0.1 q1) and -20 (q2): FAMO subtracts
#: these known minima before its logarithm, as the paper does on this toy
FAMO_MIN = {"min_losses": "loss1=-2, loss2=-20"}


def famo_run(start: tuple[float, float], steps: int, settings: dict | None, lr: float = 4e-2):
    x = torch.nn.Parameter(torch.tensor(start))
    optimizer = torch.optim.Adam([x], lr=lr)
    balancer = make_balancer("famo", NAMES, settings=settings)
    for _ in range(steps):
        optimizer.zero_grad()
        l1, l2 = toy_losses(x, scale=0.1)
        balancer.backward({"loss1": l1, "loss2": l2}, [x])
        optimizer.step()
    return x.detach()


@pytest.mark.parametrize("start", FAMO_STARTS)
def test_famo_runs_the_paper_toy_with_min_losses(start):
    """The toy's losses are negative at most starts: without lower bounds FAMO cannot take their
    logarithm (a clear error), with the known minima it runs from all five paper starts."""
    l1, l2 = toy_losses(torch.tensor(start), scale=0.1)
    if min(float(l1), float(l2)) <= 0:
        with pytest.raises(ValueError, match="min_losses"):
            famo_run(start, 1, None)
    point = famo_run(start, 20, FAMO_MIN)
    assert torch.isfinite(point).all() and not torch.equal(point, torch.tensor(start))


@pytest.mark.slow
@pytest.mark.parametrize("start", FAMO_STARTS)
def test_famo_reaches_the_pareto_set_from_the_paper_starts(start):
    """FAMO (s = 0.1) reaches the Pareto set from all five starts, as the paper reports.

    Adam lr 4e-2 instead of the paper's 1e-3 / 50k steps (time, as for CAGrad above); measured
    arrival within 0.1 of the set: at most ~2.5k steps (from (0, 0))."""
    point = famo_run(start, 3000, FAMO_MIN)
    assert pareto_distance(point) < 0.1, point
    assert min_norm_of_hull(point) < 0.05, point


@pytest.mark.slow
@pytest.mark.skipif(bool(get_balancer_class("nashmtl").missing_dependencies()),
                    reason="needs pip install 'paretolab[solvers]'")
def test_nashmtl_reaches_the_pareto_set_in_float32():
    """Nash-MTL (s = 0.1, float32) from (9, -1) reaches the Pareto set and stays (issue 14.2:
    with the small eigen-direction dropped it stopped 0.17 away at this lr, 0.33 at the paper's).

    Adam lr 4e-2 (as for CAGrad above, for time): measured arrival within 0.1 at step ~150."""
    x = torch.nn.Parameter(torch.tensor([9.0, -1.0]))
    optimizer = torch.optim.Adam([x], lr=4e-2)
    balancer = make_balancer("nashmtl", NAMES)
    for _ in range(400):
        optimizer.zero_grad()
        l1, l2 = toy_losses(x, scale=0.1)
        balancer.backward({"loss1": l1, "loss2": l2}, [x])
        optimizer.step()
    point = x.detach()
    assert pareto_distance(point) < 0.1, point
    assert min_norm_of_hull(point) < 0.05, point
