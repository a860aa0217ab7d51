"""What the study benchmarks share: the three tasks' study settings and the study-file text.

``bench_sample_efficiency``, ``bench_rung_agreement`` and ``bench_weight_landscape`` run the same
studies (task, objectives, losses, budget, learning rate); they import them from here, as
``benchmarks._common`` (run the benchmarks as modules from the repository root:
``python -m benchmarks.bench_sample_efficiency``).
"""

from __future__ import annotations

TASKS = {
    # name: (task block, objectives, losses, steps, eval_every, lr)
    "toy": ("{ref: toy}", [("loss1", "minimize"), ("loss2", "minimize")], ["loss1", "loss2"], 270, 10, 0.05),
    "digits": ("digits", [("error", "minimize"), ("sparsity", "maximize")], ["ce", "l1", "confidence"],
               180, 20, 1e-3),
    "multitask_regression": ("{ref: multitask_regression, params: {n_train: 256, n_val: 128}}",
                             [("task0", "minimize"), ("task1", "minimize")], ["task0", "task1"],
                             180, 20, 1e-3),
}
ETA = 3


def weights_text(method: str, losses: list[str]) -> str:
    """``search.weights`` for a method: ``<sampler>/uniform`` or ``<sampler>/log<R>`` pick the
    simplex spread (default: the study file's default, ``log`` with max_ratio 100)."""
    if method in ("tpe-indep", "mtpe-indep"):
        return "{ranges: {" + ", ".join(f"{n}: [0.0, 1.0]" for n in losses) + "}}"
    if method in ("ax", "tpe-log"):  # a competent user's weights: independent, log-uniform in [1e-3, 1]
        return "{ranges: {" + ", ".join(f"{n}: {{low: 1.0e-3, high: 1.0, log: true}}" for n in losses) + "}}"
    spread = method.split("+")[0].partition("/")[2]
    if spread == "uniform":
        return "{mode: simplex, spread: uniform}"
    if spread.startswith("log"):
        return f"{{mode: simplex, spread: log, max_ratio: {float(spread[3:])}}}"
    return "simplex"


def spec_text(task: str, method: str, seed: int, trials: int) -> str:
    block, objectives, losses, steps, eval_every, lr = TASKS[task]
    objs = ", ".join(f"{{name: {n}, direction: {d}}}" for n, d in objectives)
    weights = weights_text(method, losses)
    # "auto+moasha" = first rung at steps / eta**2 with the agreement guard (the defaults);
    # "auto+moasha:<min_steps>" sets the first rung; "auto+moasha-unguarded" = no guard
    # "auto+moasha:<min_steps>:<eta>" also sets eta
    # "auto+moasha@<n>" sets agreement_trials (the guard's evidence before it judges a rung)
    # "auto+moasha%<share>" sets control_share (trials never pruned while a rung prunes)
    rule, _, controls = method.partition("%")
    rule, _, evidence = rule.partition("@")
    parts = rule.split(":")
    eta = int(parts[2]) if len(parts) > 2 else ETA
    first = int(parts[1]) if len(parts) > 1 else steps // eta ** 2
    guard = ", min_agreement: null" if "unguarded" in rule else \
        f", agreement_trials: {int(evidence)}" if evidence else ""
    if controls:
        guard += f", control_share: {float(controls)}"
    pruning = f"pruning: {{method: moasha, min_steps: {first}, eta: {eta}{guard}}}\n" \
        if "+moasha" in method else ""
    return (f"name: bench-{task}-{method}-{seed}\ntask: {block}\nlosses: [{', '.join(losses)}]\n"
            f"objectives: [{objs}]\nsearch: {{weights: {weights}}}\ntrain: {{lr: {lr}}}\n"
            f"budget: {{trials: {trials}, steps: {steps}, eval_every: {eval_every}}}\n"
            f"{pruning}seed: {seed}\n")
