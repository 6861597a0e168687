"""q03 update rules equal torch.optim to 1e-10 over long runs (SGD with and without Nesterov,
Adagrad, RMSprop, Adam with L2 decay, AdamW); the mutants reproduce their variants and the
alternatives the reference, through the run_updates harness the checks use."""
import types

import numpy as np
import pytest

from autograder.harnesses import q03_optimizers as H
from autograder.references import q03_optimizers as R
from mutants.q03_optimizers import ALTERNATIVES, MUTANTS

rng = np.random.default_rng(3)
TRACE_LABELS = {"forbidden-api", "mutates-input"}
SETUP = "import numpy as np; import torch; from torch import nn; import torch.nn.functional as F"
STEPS, D = 100, 4
BOWL = np.diag([2.0, 0.5, 1.0, 0.05]) + 0.1   # the gradient follows the weights: A @ w + noise
W0 = rng.normal(size=D)
NOISE = rng.normal(size=(STEPS, D))
SMALL = 1e-3 * rng.normal(size=(STEPS, D))      # small gradients: eps matters

CONFIGS = {   # rule -> runs (kwargs, grads, A)
    "sgd": [(dict(lr=0.1), NOISE, BOWL), (dict(lr=0.03), NOISE, None)],
    "momentum": [(dict(lr=0.05), NOISE, BOWL), (dict(lr=0.05, momentum=0.5, nesterov=True), NOISE, BOWL),
                 (dict(lr=0.02, nesterov=True), NOISE, None)],
    "adagrad": [(dict(lr=0.1), NOISE, BOWL), (dict(lr=0.1), SMALL, None)],
    "rmsprop": [(dict(lr=0.01), NOISE, BOWL), (dict(lr=0.01, alpha=0.9), SMALL, None)],
    "adam": [(dict(lr=0.01), NOISE, BOWL), (dict(lr=0.01, weight_decay=0.1), NOISE, BOWL),
             (dict(lr=0.001, beta1=0.8, beta2=0.99), SMALL, None)],
    "adamw": [(dict(lr=0.01), NOISE, BOWL), (dict(lr=0.01, weight_decay=0.5), NOISE, BOWL),
              (dict(lr=0.001), SMALL, None)],
}
FUNCTION_RULE = {name: rule for rule, (name, *_) in H.RULES.items()}


def namespace(source=None, **replace):
    """The references as the grader's oracle lays them out: every function rebound to one dict
    that is also its globals (a swapped-in variant is seen by the others, and sees itself under
    the name it imitates), then the notebook's imports and a mutant's or alternative's source."""
    ns = {}
    for name, value in vars(R).items():
        if isinstance(value, types.FunctionType) and value.__module__ == R.__name__:
            value = rebind(value, ns)
        ns[name] = value
    exec(SETUP, ns)
    ns.update({name: rebind(fn, ns) for name, fn in replace.items()})
    if source:
        exec(source, ns)
    return ns


def rebind(fn, globals_):
    return types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, fn.__closure__)


def same(a, b, atol=1e-10):
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, atol) for x, y in zip(a, b))
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=0, atol=atol, equal_nan=True))


def evaluate(function, ns):
    if function == "optimizer_state_floats":
        return [ns[function](n, name) for n in (0, 1, 1000) for name in
                ("sgd", "momentum", "rmsprop", "adam", "adamw")]
    rule = FUNCTION_RULE[function]
    with np.errstate(all="ignore"):
        return [H.run_updates(ns, rule, W0, grads, kw, A)["weights"] for kw, grads, A in CONFIGS[rule]]


# ---- the references are torch.optim ---------------------------------------------------------------

@pytest.mark.parametrize("rule", list(CONFIGS))
def test_update_rule_equals_torch_optim_over_100_steps(rule):
    for kwargs, grads, A in CONFIGS[rule]:
        ours = H.run_updates(namespace(), rule, W0, grads, kwargs, A)
        theirs = R.torch_trajectory(rule, W0, grads, kwargs, A)
        assert ours["weights"].shape == (STEPS + 1, D) and ours["mutated"] == []
        assert np.allclose(ours["weights"], theirs, rtol=0, atol=1e-10), (rule, kwargs)
        assert not np.allclose(theirs[-1], W0)


def test_long_runs_stay_within_1e_10_of_torch():
    grads = rng.normal(size=(1000, 3))
    bowl = np.diag([1.0, 0.3, 0.02])
    for rule, kwargs in (("momentum", dict(lr=0.05, nesterov=True)), ("rmsprop", dict(lr=0.01)),
                         ("adam", dict(lr=0.01, weight_decay=0.01)), ("adagrad", dict(lr=0.5)),
                         ("adamw", dict(lr=0.01, weight_decay=0.1))):
        ours = H.run_updates(namespace(), rule, np.ones(3), grads, kwargs, bowl)["weights"]
        theirs = R.torch_trajectory(rule, np.ones(3), grads, kwargs, bowl)
        assert np.allclose(ours, theirs, rtol=0, atol=1e-10)


def test_optimizer_state_floats_counts_torch_state_buffers():
    import torch

    p = torch.nn.Parameter(torch.zeros(37, dtype=torch.float64))
    for name, opt in (("sgd", torch.optim.SGD([p], lr=0.1)),
                      ("momentum", torch.optim.SGD([p], lr=0.1, momentum=0.9)),
                      ("rmsprop", torch.optim.RMSprop([p])), ("adam", torch.optim.Adam([p])),
                      ("adamw", torch.optim.AdamW([p]))):
        p.grad = torch.ones_like(p)
        opt.step()
        floats = sum(v.numel() for v in opt.state[p].values()
                     if isinstance(v, torch.Tensor) and v.dim() > 0)   # "step" is a 0-d counter
        assert R.optimizer_state_floats(37, name) == floats, name


def test_functions_return_new_arrays():
    w, g, s = np.ones(3), np.full(3, 0.5), np.full(3, 0.1)
    before = [a.copy() for a in (w, g, s)]
    R.sgd_update(w, g, 0.1), R.momentum_update(w, g, s, 0.1), R.adagrad_update(w, g, s, 0.1)
    R.rmsprop_update(w, g, s, 0.1), R.adam_update(w, g, s, s, 1, 0.1, weight_decay=0.1)
    R.adamw_update(w, g, s, s, 2, 0.1)
    assert all(np.array_equal(a, b) for a, b in zip(before, (w, g, s)))


def test_forbidden_names_exist():
    import importlib

    from autograder.labels.q03_optimizers import _OPTIM, FORBIDDEN

    for dotted in _OPTIM:
        module, _, attr = dotted.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), dotted
    assert set(FORBIDDEN) == set(R.LABELS.functions)


# ---- the mutants reproduce their variants; the alternatives the reference ----------------------

REFERENCE = {f: evaluate(f, namespace()) for f in R.LABELS.functions}


@pytest.mark.parametrize("label,function,source", MUTANTS, ids=[f"{m[1]}:{m[0]}" for m in MUTANTS])
def test_mutant_reproduces_a_variant_of_its_label(label, function, source):
    assert label in R.LABELS.required or label in R.LABELS.extra
    ns = namespace(source)
    if label == "mutates-input":
        rule = FUNCTION_RULE[function]
        assert H.run_updates(ns, rule, W0, NOISE[:3], dict(lr=0.1))["mutated"]
        return
    if label in TRACE_LABELS:   # forbidden-api: the values are right, the tripwire names it
        assert same(evaluate(function, ns), REFERENCE[function])
        return
    got = evaluate(function, ns)
    assert not same(got, REFERENCE[function])
    variants = [fn for lab, fn in R.PITFALLS.variants[function] if lab == label]
    assert any(same(got, evaluate(function, namespace(**{function: v}))) for v in variants)


@pytest.mark.parametrize("function,source", ALTERNATIVES, ids=[a[0] for a in ALTERNATIVES])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    assert same(evaluate(function, ns), REFERENCE[function])
    if function != "optimizer_state_floats":
        rule = FUNCTION_RULE[function]
        assert H.run_updates(ns, rule, W0, NOISE[:3], dict(lr=0.1))["mutated"] == []


def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert R.LABELS.required <= {m[0] for m in MUTANTS}
    for f in R.LABELS.functions:
        assert sum(a[0] == f for a in ALTERNATIVES) >= 2, f
    for f, variants in R.PITFALLS.variants.items():
        assert f in R.LABELS.functions and all(lab in R.LABELS for lab, _ in variants)
