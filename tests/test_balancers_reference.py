"""Gradient-level balancers against their reference formulas on small random Jacobians.

The losses are linear in the shared parameter, ``L_i = g_i . theta + 10``, so the task Jacobian is
exactly the chosen matrix ``J`` and ``theta.grad`` after ``backward`` is the method's update. The
references below are written from the papers (not from torchjd's code), including the scale
convention of each method (mean vs sum).
"""

from __future__ import annotations

import math
from importlib.util import find_spec

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from paretolab.balancers import make_balancer
from paretolab.balancers.rgb import _conflict, rotate

HAS_CVXPY = find_spec("cvxpy") is not None


def update(method: str, J: torch.Tensor, w: list[float], steps: int = 1, **options) -> torch.Tensor:
    """``theta.grad`` after ``steps`` backward calls of ``method`` on the linear losses ``J``."""
    names = [f"t{i}" for i in range(J.shape[0])]
    balancer = make_balancer(method, names, dict(zip(names, w)), options)
    theta = torch.zeros(J.shape[1], dtype=torch.float64, requires_grad=True)
    for _ in range(steps):
        theta.grad = None
        balancer.backward({n: J[i] @ theta + 10.0 for i, n in enumerate(names)}, [theta])
    return theta.grad.clone()


def random_jacobian(seed: int, t: int = 3, d: int = 6, conflict: bool = True) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    J = torch.randn(t, d, generator=g, dtype=torch.float64)
    if not conflict:  # all pairwise inner products positive
        J = J.abs() + 0.1
    return J


def project_dual_cone(J: np.ndarray, g: np.ndarray) -> np.ndarray:
    """argmin ||x - g|| subject to J x >= 0 (the projection of UPGrad / DualProj), by SLSQP."""
    res = minimize(lambda x: 0.5 * np.sum((x - g) ** 2), g, jac=lambda x: x - g,
                   constraints=[{"type": "ineq", "fun": lambda x: J @ x, "jac": lambda x: J}],
                   method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    return res.x


def min_norm_hull(H: np.ndarray) -> np.ndarray:
    """The minimum-norm point of the convex hull of the rows of H (MGDA), by SLSQP."""
    t = H.shape[0]
    G = H @ H.T
    res = minimize(lambda a: a @ G @ a, np.full(t, 1 / t), jac=lambda a: 2 * G @ a,
                   bounds=[(0, 1)] * t, method="SLSQP",
                   constraints=[{"type": "eq", "fun": lambda a: a.sum() - 1}],
                   options={"ftol": 1e-15, "maxiter": 500})
    return res.x @ H


W3 = [0.5, 0.3, 0.2]


# --- UPGrad / DualProj ------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_upgrad_is_weighted_sum_of_dual_cone_projections(seed):
    J = random_jacobian(seed)
    Jn = J.numpy()
    expected = sum(w * project_dual_cone(Jn, Jn[i]) for i, w in enumerate(W3))
    got = update("upgrad", J, W3).numpy()
    scale = np.linalg.norm(expected) + 1e-12
    assert np.linalg.norm(got - expected) / scale < 2e-3  # torchjd regularises G by 1e-4
    assert (Jn @ got >= -1e-3 * np.linalg.norm(Jn, axis=1) * np.linalg.norm(got)).all()


@pytest.mark.parametrize("seed", range(4))
def test_dualproj_projects_the_weighted_sum(seed):
    J = random_jacobian(seed)
    Jn = J.numpy()
    expected = project_dual_cone(Jn, np.array(W3) @ Jn)
    got = update("dualproj", J, W3).numpy()
    assert np.linalg.norm(got - expected) / (np.linalg.norm(expected) + 1e-12) < 2e-3


@pytest.mark.parametrize("method", ["upgrad", "dualproj", "imtlg", "mgda"])
def test_mean_convention_without_conflict(method):
    """Identical gradients: the 'mean' methods give back the gradient (sum of w_i g = g)."""
    g = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    J = torch.stack([g, g, g])
    w = W3 if method != "mgda" else [1 / 3] * 3
    assert torch.allclose(update(method, J, w), g, atol=1e-3)


@pytest.mark.parametrize("method", ["pcgrad", "gradvac", "graddrop", "config"])
def test_sum_convention_without_conflict(method):
    """Identical gradients: the 'sum' methods give T g, as in their papers."""
    g = torch.tensor([1.0, -2.0, 0.5, 3.0], dtype=torch.float64)
    J = torch.stack([g, 2 * g, 0.5 * g])
    assert torch.allclose(update(method, J, [1 / 3] * 3), J.sum(0), atol=1e-8)


def test_upgrad_without_conflict_is_the_static_weighted_sum():
    J = random_jacobian(1, conflict=False)
    assert torch.allclose(update("upgrad", J, W3), torch.tensor(W3, dtype=J.dtype) @ J, rtol=1e-3)


# --- MGDA ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(4))
def test_mgda_two_tasks_closed_form(seed):
    J = random_jacobian(seed, t=2)
    w = [0.7, 0.3]
    h1, h2 = J[0] / (2 * w[0]), J[1] / (2 * w[1])  # rows g_i / (T w_i)
    a = float(((h2 - h1) @ h2) / ((h1 - h2) @ (h1 - h2)))
    a = min(1.0, max(0.0, a))
    expected = a * h1 + (1 - a) * h2
    assert torch.allclose(update("mgda", J, w), expected, atol=1e-10)


def test_mgda_uniform_preference_is_plain_min_norm_point():
    J = random_jacobian(5, t=3, d=5)
    expected = min_norm_hull(J.numpy())
    got = update("mgda", J, [1 / 3] * 3).numpy()
    assert np.linalg.norm(got - expected) <= 2e-2 * np.linalg.norm(J.numpy(), axis=1).max()


def test_mgda_preference_sets_decrease_rates():
    """g_i . d >= T w_i |d|^2 for every task (MGDA's KKT condition on the scaled rows)."""
    J = random_jacobian(7, t=2, d=4)
    w = [0.8, 0.2]
    d = update("mgda", J, w)
    rates = J @ d
    assert (rates >= 2 * torch.tensor(w, dtype=J.dtype) * (d @ d) - 1e-9).all()


def test_mgda_zero_weight_drops_the_task():
    J = random_jacobian(3, t=3)
    got = update("mgda", J, [0.5, 0.5, 0.0])
    # the same two rows g_i / (T w_i), with T = 3 instead of 2
    assert torch.allclose(got, update("mgda", J[:2], [0.5, 0.5]) * 2 / 3, atol=1e-10)


# --- PCGrad / GradVac / GradDrop (sum convention) ----------------------------------------------
def pcgrad_two(g1: torch.Tensor, g2: torch.Tensor) -> torch.Tensor:
    """PCGrad for two tasks (Yu et al. 2020, Alg. 1): project each on the other's normal plane."""
    inner = g1 @ g2
    if inner >= 0:
        return g1 + g2
    return (g1 - inner / (g2 @ g2) * g2) + (g2 - inner / (g1 @ g1) * g1)


def conflicting_pair(seed: int) -> torch.Tensor:
    J = random_jacobian(seed, t=2, d=5)
    if J[0] @ J[1] > 0:
        J[1] = -J[1]
    return J


@pytest.mark.parametrize("seed", range(3))
def test_pcgrad_two_tasks(seed):
    J = conflicting_pair(seed)
    w = [0.6, 0.4]
    scaled = J * (2 * torch.tensor(w, dtype=J.dtype))[:, None]
    assert torch.allclose(update("pcgrad", J, w), pcgrad_two(scaled[0], scaled[1]), atol=1e-10)


def test_pcgrad_sum_convention_without_conflict():
    J = random_jacobian(2, conflict=False)
    assert torch.allclose(update("pcgrad", J, [1 / 3] * 3), J.sum(0), atol=1e-10)


def gradvac_pair(gi, gj, phi_hat):
    """GradVac's correction of g_i towards the target cosine phi_hat (Wang et al. 2021, Eq. 6)."""
    phi = float(gi @ gj / (gi.norm() * gj.norm()))
    if phi >= phi_hat:
        return gi
    coef = gi.norm() * (phi_hat * math.sqrt(1 - phi**2) - phi * math.sqrt(1 - phi_hat**2)) / (
        gj.norm() * math.sqrt(1 - phi_hat**2))
    return gi + coef * gj


def test_gradvac_first_step_equals_pcgrad_then_follows_its_ema_target():
    J = conflicting_pair(4)
    w = [0.5, 0.5]
    assert torch.allclose(update("gradvac", J, w), pcgrad_two(J[0], J[1]), atol=1e-8)
    # second step on the same gradients: the target is beta * phi (EMA from 0)
    beta = 0.5
    phi = float(J[0] @ J[1] / (J[0].norm() * J[1].norm()))
    target = beta * phi
    expected = gradvac_pair(J[0], J[1], target) + gradvac_pair(J[1], J[0], target)
    assert torch.allclose(update("gradvac", J, w, steps=2, beta=beta), expected, atol=1e-8)


def test_graddrop_keeps_one_sign_per_coordinate():
    J = random_jacobian(6, t=3, d=40)
    w = [0.5, 0.3, 0.2]
    scaled = J * (3 * torch.tensor(w, dtype=J.dtype))[:, None]
    positive = scaled.clamp(min=0).sum(0)
    negative = scaled.clamp(max=0).sum(0)
    torch.manual_seed(0)
    got = update("graddrop", J, w)
    ok = torch.isclose(got, positive, atol=1e-12) | torch.isclose(got, negative, atol=1e-12)
    assert ok.all()
    assert (got > 0).any() and (got < 0).any()


# --- IMTL-G, Aligned-MTL, ConFIG ------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(3))
def test_imtlg_projections_on_unit_gradients_follow_the_preference(seed):
    J = random_jacobian(seed, t=3, d=6)
    w = torch.tensor(W3, dtype=J.dtype)
    d = update("imtlg", J, W3)
    projections = (J / J.norm(dim=1, keepdim=True)) @ d
    assert torch.allclose(projections / projections.sum(), w / w.sum(), atol=1e-8)
    # d = sum_i a_i g_i with sum a = 1 (IMTL-G's normalisation)
    a = torch.linalg.lstsq(J.T, d[:, None]).solution.squeeze(1)
    assert abs(float(a.sum()) - 1.0) < 1e-8


def test_imtlg_uniform_preference_is_torchjd_imtlg():
    from torchjd.aggregation import IMTLG

    J = random_jacobian(8)
    assert torch.allclose(update("imtlg", J, [1 / 3] * 3), IMTLG()(J), atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_alignedmtl_combines_the_aligned_orthogonal_rows(seed):
    """Aligned-MTL (Senushkin et al. 2023): J -> sigma_min U V^T (SVD J = U S V^T)."""
    J = random_jacobian(seed, t=3, d=6)
    U, S, Vh = np.linalg.svd(J.numpy(), full_matrices=False)
    aligned = S.min() * U @ Vh
    assert np.allclose(aligned @ aligned.T, S.min() ** 2 * np.eye(3))
    expected = np.array(W3) @ aligned
    assert np.allclose(update("alignedmtl", J, W3).numpy(), expected, atol=1e-8)


@pytest.mark.parametrize("seed", range(3))
def test_config_direction_and_length(seed):
    """ConFIG (Liu et al. 2025, Eq. 2): u = normalize(pinv(unit rows) w); length sum_i g_i . u."""
    J = random_jacobian(seed, t=3, d=6)
    units = J.numpy() / np.linalg.norm(J.numpy(), axis=1, keepdims=True)
    u = np.linalg.pinv(units) @ np.array(W3)
    u /= np.linalg.norm(u)
    expected = (J.numpy() @ u).sum() * u
    got = update("config", J, W3).numpy()
    assert np.allclose(got, expected, atol=1e-8)
    cosines = units @ u
    assert np.allclose(cosines / cosines.sum(), np.array(W3) / sum(W3), atol=1e-8)


# --- CAGrad, Nash-MTL (optional dependencies) --------------------------------------------------------
def test_config_rank_deficient_matches_torchjd_on_the_full_matrix():
    """Row-space coordinates give torchjd's ConFIG result, also with linearly dependent rows."""
    from torchjd.aggregation import ConFIG

    J = random_jacobian(4, t=3, d=6)
    J[2] = 2 * J[0] - J[1]
    w = torch.tensor(W3, dtype=J.dtype)
    assert torch.allclose(update("config", J, W3), ConFIG(pref_vector=w)(J), atol=1e-8)


@pytest.mark.skipif(not HAS_CVXPY, reason='needs pip install "torchjd[cagrad]"')
@pytest.mark.parametrize("seed", range(2))
def test_cagrad_reference(seed):
    """CAGrad (Liu et al. 2021, Alg. 1): d = g0 + c|g0| / |g_w| g_w, w from the dual problem."""
    J = random_jacobian(seed, t=3, d=6).numpy()
    w = np.array(W3)
    rows = 3 * w[:, None] * J
    g0 = rows.mean(0)
    G = rows @ rows.T
    c = 0.5
    radius = c * np.linalg.norm(g0)
    res = minimize(lambda x: x @ rows @ g0 + radius * np.sqrt(x @ G @ x + 1e-12), np.full(3, 1 / 3),
                   bounds=[(0, 1)] * 3, constraints=[{"type": "eq", "fun": lambda x: x.sum() - 1}],
                   method="SLSQP", options={"ftol": 1e-12})
    gw = res.x @ rows
    expected = g0 + radius / np.linalg.norm(gw) * gw
    got = update("cagrad", torch.tensor(J), list(w), c=c).numpy()
    assert np.linalg.norm(got - expected) / np.linalg.norm(expected) < 1e-3


@pytest.mark.skipif(not HAS_CVXPY, reason='needs pip install "torchjd[nash_mtl]"')
def test_nashmtl_bargaining_solution():
    """Nash-MTL (Navon et al. 2022, Sec. 3): the update is d = J^T a with G a = 1 / a, G = J J^T.

    The paper's condition is absolute (``a_i (G a)_i = 1``), not up to a scale: torchjd solves it
    on ``G / |G|`` and undoes the scaling, so we check the product itself. Nash-MTL is invariant to
    rescaling a loss, so a non-uniform preference (rows scaled by ``T w_i``) gives the same update.
    (Caveat, from torchjd / the official code: its convex-concave iterations start at ``a = 1``;
    when ``G 1`` has a negative entry the first subproblem is unbounded and the weights stay at 1,
    e.g. ``random_jacobian(2)``. Seed 1 is a regular case.)
    """
    J = random_jacobian(1, t=3, d=6)
    d = update("nashmtl", J, [1 / 3] * 3, max_norm=0.0)
    a = torch.linalg.lstsq(J.T, d[:, None]).solution.squeeze(1)
    G = J @ J.T
    assert torch.allclose((G @ a) * a, torch.ones(3, dtype=J.dtype), atol=1e-4)
    assert torch.allclose(update("nashmtl", J, W3, max_norm=0.0), d, rtol=1e-5, atol=1e-8)


# --- float32: a small eigen-direction that is real (issue 14.2) -------------------------------------
def toy_float32_jacobian() -> tuple[torch.nn.Parameter, torch.Tensor]:
    """The toy (scale 0.1) at a point with nearly opposite gradients, in float32: the Gramian's
    small eigenvalue is ~1e-7 of the largest, below float32 rounding of the Gramian but real."""
    from paretolab.tasks.toy import toy_losses

    x = torch.nn.Parameter(torch.tensor([5.333, -8.1614], dtype=torch.float32))
    losses = toy_losses(x, scale=0.1)
    J = torch.stack([torch.autograd.grad(loss, x, retain_graph=True)[0] for loss in losses])
    return x, J


def float32_update(method: str) -> torch.Tensor:
    from paretolab.tasks.toy import toy_losses

    x = torch.nn.Parameter(torch.tensor([5.333, -8.1614], dtype=torch.float32))
    l1, l2 = toy_losses(x, scale=0.1)
    make_balancer(method, ["loss1", "loss2"]).backward({"loss1": l1, "loss2": l2}, [x])
    return x.grad


@pytest.mark.parametrize("method", ["config", pytest.param("nashmtl", marks=pytest.mark.skipif(
    not HAS_CVXPY, reason='needs pip install "torchjd[nash_mtl]"'))])
def test_row_space_methods_keep_a_small_real_direction_in_float32(method):
    """ConFIG and Nash-MTL on the float32 toy equal torchjd called directly on the Jacobian."""
    from torchjd.aggregation import ConFIG, NashMTL

    _, J = toy_float32_jacobian()
    reference = ConFIG()(J) if method == "config" else NashMTL(n_tasks=2)(J)
    got = float32_update(method)
    cosine = float(got @ reference / (got.norm() * reference.norm()))
    assert cosine > 0.9999, (got, reference)
    assert float(got.norm()) == pytest.approx(float(reference.norm()), rel=1e-3)


# --- DB-MTL, GradNorm --------------------------------------------------------------------------------
def test_dbmtl_two_steps():
    """DB-MTL (Lin et al. 2023): EMA of grad log L_i, rescaled to the largest norm, weighted T w_i."""
    J = random_jacobian(2, t=2, d=5)
    w = [0.7, 0.3]
    beta = 0.9
    log_grads = J / 10.0  # L_i = 10 at theta = 0
    buf = (1 - beta) * log_grads
    buf = beta * buf + (1 - beta) * log_grads
    norms = buf.norm(dim=1)
    expected = ((norms.max() / (norms + 1e-8)) * 2 * torch.tensor(w, dtype=J.dtype)) @ buf
    assert torch.allclose(update("dbmtl", J, w, steps=2, beta=beta), expected, atol=1e-10)


def test_gradnorm_all_params_one_step():
    """GradNorm (Chen et al. 2018): update sum_i w_i g_i, then w moves against sign(G_i - target)."""
    J = torch.tensor([[3.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    names = ["a", "b"]
    balancer = make_balancer("gradnorm", names, {"a": 0.5, "b": 0.5},
                             {"norm_on": "all", "lr": 0.1})
    theta = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    balancer.backward({"a": J[0] @ theta + 10, "b": J[1] @ theta + 10}, [theta])
    assert torch.allclose(theta.grad, J.sum(0))  # initial weights T w = 1
    # norms 3 and 1, equal loss ratios: target = mean(G) = 2 -> w_a down, w_b up by Adam's lr
    new = torch.tensor([balancer.stats()["weight|a"], balancer.stats()["weight|b"]])
    expected = torch.tensor([0.9, 1.1])
    assert torch.allclose(new, expected * 2 / expected.sum(), atol=1e-6)


# --- RGB -------------------------------------------------------------------------------------------
def basis_gram(vectors: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    units = vectors / vectors.norm(dim=1, keepdim=True)
    basis = torch.cat([units, (d / d.norm())[None]])
    return basis @ basis.T


@settings(max_examples=60, deadline=None)
@given(st.integers(2, 6), st.integers(0, 10_000), st.floats(0.0, 10.0),
       st.floats(0.01, 1.0), st.integers(1, 8), st.booleans())
def test_rgb_rotation_never_increases_conflict(t, seed, lambd, lr, steps, warm):
    g = torch.Generator().manual_seed(seed)
    vectors = torch.randn(t, 7, generator=g, dtype=torch.float64)
    d = vectors.mean(0) + 0.3 * torch.randn(7, generator=g, dtype=torch.float64)
    alpha0 = torch.rand(t, generator=g, dtype=torch.float64) * 1.5 if warm else None
    result = rotate(basis_gram(vectors, d).numpy(), None if alpha0 is None else alpha0.numpy(),
                    lambd=lambd, lr=lr, steps=steps)
    assert result.conflict_after <= result.conflict_before + 1e-12
    assert ((result.alpha >= 0) & (result.alpha < math.pi / 2)).all()


class RGBReference:
    """RGB written in D-space from rgb.md (with our semi-implicit proximity step), stateful."""

    def __init__(self, lambd=1.0, lr=0.2, steps=3, mu=0.9):
        self.lambd, self.lr, self.steps, self.mu = lambd, lr, steps, mu
        self.d = None
        self.alpha = None

    def __call__(self, J: torch.Tensor, w: list[float]) -> torch.Tensor:
        t = J.shape[0]
        units = J / J.norm(dim=1, keepdim=True)
        y = units.mean(0)
        y = y / y.norm()
        d = y if self.d is None else self.mu * self.d + (1 - self.mu) * y
        self.d = d = d / d.norm()
        p = units @ d
        wdir = d[None] - p[:, None] * units
        wdir = wdir / wdir.norm(dim=1, keepdim=True)
        movable = p.abs() <= 0.999
        alpha = torch.zeros(t, dtype=J.dtype) if self.alpha is None else self.alpha

        def rotated(a):
            r = torch.cos(a)[:, None] * units + torch.sin(a)[:, None] * wdir
            return r / r.norm(dim=1, keepdim=True)

        def descend(alpha):
            for _ in range(self.steps):
                r = rotated(alpha)
                others = r.sum(0)[None] - r
                dr = -torch.sin(alpha)[:, None] * units + torch.cos(alpha)[:, None] * wdir
                grad = -(dr * others).sum(1) / (t * (t - 1))
                sinc = torch.where(alpha > 0, torch.sin(alpha) / alpha.clamp_min(1e-12),
                                   torch.ones_like(alpha))
                alpha = (alpha - self.lr * grad) / (1 + self.lr * self.lambd * sinc / (2 * t))
                alpha = torch.where(movable, alpha.clamp(0, math.pi / 2 - 1e-6),
                                    torch.zeros_like(alpha))
            return alpha

        def conflict(a):
            r = rotated(a)
            pairs = [(1 - r[i] @ r[j]) / 2 for i in range(t) for j in range(i + 1, t)]
            return torch.stack(pairs).mean()

        zero = torch.zeros(t, dtype=J.dtype)
        alpha = descend(zero if self.alpha is None else self.alpha)
        tol = 1e-12  # a rounding difference is not more conflict
        if conflict(alpha) > conflict(zero) + tol and self.alpha is not None:  # the safeguard
            alpha = descend(zero)
        while conflict(alpha) > conflict(zero) + tol and alpha.max() > 1e-9:
            alpha = alpha / 2
        self.alpha = alpha
        pw = torch.tensor(w, dtype=J.dtype)
        return (pw / pw.sum()) @ rotated(alpha)


@pytest.mark.parametrize("seed,noise", [(0, 0.3), (1, 0.3), (2, 0.3), (1, 10.0), (2, 10.0)])
def test_rgb_matches_the_d_space_algorithm_over_steps(seed, noise):
    """Steps on changing Jacobians: consensus EMA, warm start and (with unrelated gradients from
    step to step, noise 10) the safeguard included."""
    names = ["t0", "t1", "t2"]
    balancer = make_balancer("rgb", names, dict(zip(names, W3)))
    reference = RGBReference()
    theta = torch.zeros(8, dtype=torch.float64, requires_grad=True)
    base = random_jacobian(seed, t=3, d=8)
    for step in range(4):  # correlated gradients, as in training; the last step is unrelated
        J = base + noise * random_jacobian(seed * 10 + step, t=3, d=8) if step < 3 else \
            random_jacobian(seed + 100, t=3, d=8)
        theta.grad = None
        balancer.backward({n: J[i] @ theta + 10.0 for i, n in enumerate(names)}, [theta])
        assert torch.allclose(theta.grad, reference(J, W3), atol=1e-9), step


def test_rgb_safeguard_against_a_stale_warm_start():
    """Two gradients 10 degrees either side of d, warm-started at ~86 degrees: rotating that far
    would overshoot d and raise the conflict; the result must not."""
    angles = torch.tensor([0.17, -0.17], dtype=torch.float64)
    vectors = torch.stack([torch.cos(angles), torch.sin(angles)], 1)
    result = rotate(basis_gram(vectors, torch.tensor([1.0, 0.0], dtype=torch.float64)).numpy(),
                    np.array([1.5, 1.5]), lambd=0.0, lr=0.01, steps=1)
    assert result.conflict_after <= result.conflict_before


@pytest.mark.parametrize("warm", [0.1, 0.18, 0.2])
def test_rgb_safeguard_ignores_rounding_when_the_conflict_cannot_change(warm):
    """Two parallel gradients rotated alike have conflict exactly 0 at every angle: the angle must
    follow the inner steps from the warm start whatever d is, not drop to 0 when rounding makes
    the rotated conflict 1e-16 above the unrotated one (issue 14.5)."""
    alphas = []
    for c in np.linspace(0.1, 0.95, 18):  # cosine between the (equal) gradients and d
        gram = np.array([[1.0, 1.0, c], [1.0, 1.0, c], [c, c, 1.0]])
        alphas.append(rotate(gram, np.array([warm, warm]), lambd=1.0, lr=0.2, steps=3).alpha)
    alphas = np.array(alphas)
    assert np.allclose(alphas, alphas[0], atol=1e-12) and (alphas > 0.5 * warm).all(), alphas


def test_rgb_huge_lambda_gives_plain_normalized_mean():
    J = random_jacobian(3, t=4, d=6)
    units = J / J.norm(dim=1, keepdim=True)
    got = update("rgb", J, [0.25] * 4, steps=3, lambd=1e12)
    assert torch.allclose(got, units.mean(0), atol=1e-9)


def test_rgb_leaves_aligned_gradients_unchanged():
    g = torch.tensor([1.0, 2.0, -1.0, 0.5], dtype=torch.float64)
    J = torch.stack([g, 3 * g, 0.5 * g])
    assert torch.allclose(update("rgb", J, W3), g / g.norm(), atol=1e-12)
    # norm_weighted: sum_i T w_i |g_i| r_i = T sum_i w_i g_i (the static direction and size)
    got = update("rgb", J, W3, magnitude="norm_weighted")
    assert torch.allclose(got, 3 * torch.tensor(W3, dtype=J.dtype) @ J, atol=1e-10)


def test_rgb_rotation_reduces_conflict_on_conflicting_gradients():
    J = conflicting_pair(1)
    names = ["a", "b"]
    balancer = make_balancer("rgb", names)
    theta = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    balancer.backward({"a": J[0] @ theta + 1, "b": J[1] @ theta + 1}, [theta])
    stats = balancer.stats()
    assert stats["conflict_after"] < stats["conflict_before"]
    assert stats["alpha_mean"] > 0


def test_rgb_conflict_formula_is_the_pairwise_mean():
    g = torch.Generator().manual_seed(0)
    r = torch.randn(4, 5, generator=g, dtype=torch.float64)
    r = r / r.norm(dim=1, keepdim=True)
    pairs = [(1 - r[i] @ r[j]) / 2 for i in range(4) for j in range(i + 1, 4)]
    assert _conflict(r.numpy(), np.eye(5)) == pytest.approx(float(torch.stack(pairs).mean()))
