"""q07: the references agree with scikit-learn / torch, and every mutant / alternative in
tests/mutants/q07_regularization.py behaves as labelled (numeric functions through the pitfall
variants, dropout and decay_param_groups through their harnesses and the labels' detectors)."""
import copy

import numpy as np
import pytest
import torch

from autograder.harnesses import q07_regularization as H
from autograder.labels.q07_regularization import LABELS
from autograder.references import q07_regularization as R
from mutants.q07_regularization import ALTERNATIVES, MUTANTS
from whiteboard.grading.compare import mismatch

SETUP = ("import numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: a thread pool costs far more than it saves (milliseconds per conv on 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def namespace(source=None):
    ns = dict(vars(R))
    exec(SETUP, ns)
    if source:
        exec(source, ns)
    return ns


def sparse_problem(seed, n=60, d=12, k=3, noise=0.1):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    w = np.zeros(d)
    w[rng.choice(d, k, replace=False)] = rng.normal(scale=3, size=k)
    return X, X @ w + noise * rng.normal(size=n)


def step_size(X):
    return 1.0 / np.linalg.eigvalsh(X.T @ X / X.shape[0]).max()


def w_of(seed, shape=(3, 4)):
    return np.random.default_rng(seed).normal(size=shape)


X1, Y1 = sparse_problem(1, n=30, d=6)
X2, Y2 = sparse_problem(2, n=40, d=8)
CASES = {
    "l1_penalty": [((w_of(0), 0.3), {}), ((w_of(1, (7,)), 2.0), {})],
    "l2_penalty": [((w_of(2), 0.3), {}), ((w_of(3, (7,)), 2.0), {})],
    "soft_threshold": [((w_of(4, (20,)), 0.5), {}), ((w_of(5, (3, 5)), 1.2), {})],
    "lasso_ista": [((X1, Y1, 0.3, step_size(X1), 40), {}), ((X2, Y2, 0.05, 0.5 * step_size(X2), 25), {})],
    "ridge_closed_form": [((X1, Y1, 0.7), {}), ((X2, Y2, 0.05), {})],
}


def run(ns, fn, args, kwargs):
    return ns[fn](*copy.deepcopy(args), **copy.deepcopy(kwargs))


# ---- the references against scikit-learn and torch --------------------------------------------------

def test_penalties_and_soft_threshold():
    w = w_of(0)
    assert np.isclose(R.l1_penalty(w, 0.3), 0.3 * np.abs(w).sum())
    assert np.isclose(R.l2_penalty(w, 0.3), 0.15 * (w ** 2).sum())
    for t in (0.0, 0.3, 1.0, 5.0):
        want = torch.nn.functional.softshrink(torch.from_numpy(w), t).numpy()
        assert np.allclose(R.soft_threshold(w, t), want)
    assert R.soft_threshold(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]), 1.0).tolist() == [-1, 0, 0, 0, 1]


@pytest.mark.parametrize("seed,lam", [(1, 0.1), (2, 0.3), (3, 0.02), (4, 1.0)])
def test_lasso_ista_has_sklearn_lasso_exact_zeros(seed, lam):
    from sklearn.linear_model import Lasso

    X, y = sparse_problem(seed)
    w = R.lasso_ista(X, y, lam, step_size(X), 5000)
    sk = Lasso(alpha=lam, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(X, y).coef_
    assert np.array_equal(w == 0, sk == 0), (w, sk)
    assert (w == 0).any()
    assert np.allclose(w, sk, atol=1e-8)


@pytest.mark.parametrize("seed,lam", [(1, 0.1), (2, 3.0), (5, 1e-4)])
def test_ridge_is_sklearn_ridge_with_alpha_n_lam(seed, lam):
    from sklearn.linear_model import Ridge

    X, y = sparse_problem(seed)
    sk = Ridge(alpha=len(y) * lam, fit_intercept=False).fit(X, y).coef_
    assert np.allclose(R.ridge_closed_form(X, y, lam), sk, rtol=1e-8, atol=1e-10)
    # and it zeroes the gradient of (1/2n)||Xw - y||^2 + (lam/2)||w||^2
    w = R.ridge_closed_form(X, y, lam)
    assert np.allclose(X.T @ (X @ w - y) / len(y) + lam * w, 0, atol=1e-10)


# ---- dropout: what a check on the harness's statistics accepts ----------------------------------

def dropout_properties_hold(t, p, training):
    """The catalogue's properties, read from a dropout_trace (what the check will test)."""
    if not t.get("is_tensor") or t.get("input_modified") or not t.get("finite", False):
        return False
    if not training or p == 0:
        return t["equals_input"]
    if p == 1:
        return t["all_zero"]
    sd = (p * (1 - p) / t["n"]) ** 0.5
    return (abs(t["keep_rate"] - (1 - p)) < 5 * sd
            and len(t["kept_scales"]) == 1 and abs(t["kept_scales"][0] - 1 / (1 - p)) < 1e-3
            and abs(t["mean_ratio"] - 1) < 5 * sd / (1 - p) + 1e-3
            and t["generator_used"] and not t["global_rng_used"] and t["reproducible"])


DROPOUT_SETTINGS = [(0.2, True), (0.5, True), (0.8, True), (0.0, True), (1.0, True), (0.2, False),
                    (0.7, False)]


def dropout_labels(ns, settings=DROPOUT_SETTINGS):
    """The labels the detectors name over the settings, with the settings that broke a property."""
    labels, broken = set(), []
    for p, training in settings:
        for dtype in ("float32", "float64"):
            t = H.dropout_trace(ns, p=p, training=training, dtype=dtype)
            if not dropout_properties_hold(t, p, training):
                broken.append((p, training, dtype))
                for label, test in LABELS.detectors["dropout"]:
                    if test(t, p=p, training=training):
                        labels.add(label)
    return labels, broken


def test_reference_dropout_has_the_properties():
    labels, broken = dropout_labels(namespace())
    assert not broken and not labels


# ---- decay_param_groups ------------------------------------------------------------------------

def decay_labels(ns):
    labels, traces = set(), []
    for model in H.MODELS:
        t = H.decay_groups_trace(ns, weight_decay=0.05, model=model)
        traces.append(t)
        for label, test in LABELS.detectors["decay_param_groups"]:
            if test(t):
                labels.add(label)
    return labels, traces


def test_reference_decay_groups():
    labels, traces = decay_labels(namespace())
    assert not labels
    for t in traces:
        assert t["adamw_ok"] and t["unknown"] == 0 and not t["weights_changed"]
        assert len(t["groups"]) == 2
        for p in t["parameters"]:
            decayed = p["module"] in ("Linear", "Conv1d", "Conv2d", "Conv3d") and p["attr"] == "weight"
            assert t["decay_of"][p["name"]] == (0.05 if decayed else 0.0), p
    kinds = {p["module"] for p in traces[0]["parameters"]}
    assert {"Linear", "Conv2d", "Conv1d", "BatchNorm2d", "LayerNorm", "Embedding"} <= kinds


# ---- mutants and alternatives ---------------------------------------------------------------------

def _variants(fn, label):
    return [v for lab, v in R.PITFALLS.variants.get(fn, []) if lab == label]


@pytest.mark.parametrize("label,fn,source", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_named(label, fn, source):
    ns = namespace(source)
    if fn == "dropout":
        labels, broken = dropout_labels(ns)
        assert broken and labels == {label}, (labels, broken)
        return
    if fn == "decay_param_groups":
        labels, traces = decay_labels(ns)
        assert labels == {label}
        variant_traces = [H.decay_groups_trace(namespace() | {fn: v}, weight_decay=0.05)
                          for v in _variants(fn, label)]
        assert any(v["decay_of"] == traces[0]["decay_of"] for v in variant_traces)
        return
    variants = _variants(fn, label)
    assert variants, f"no variant registered under {label}"
    differing = 0
    for args, kwargs in CASES[fn]:
        got = run(ns, fn, args, kwargs)
        if mismatch(got, getattr(R, fn)(*args, **kwargs)) is None:
            continue
        differing += 1
        assert any(mismatch(got, v(*copy.deepcopy(args), **kwargs), equal_nan=True) is None
                   for v in variants), f"{label}: no variant reproduces {got}"
    assert differing, f"{label}: the mutant agrees with the reference on every case"


@pytest.mark.parametrize("fn,source", ALTERNATIVES, ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_alternative_is_correct(fn, source):
    ns = namespace(source)
    if fn == "dropout":
        assert dropout_labels(ns) == (set(), [])
        return
    if fn == "decay_param_groups":
        labels, traces = decay_labels(ns)
        _, want = decay_labels(namespace())
        assert not labels and [t["decay_of"] for t in traces] == [t["decay_of"] for t in want]
        assert all(t["adamw_ok"] for t in traces)
        return
    for args, kwargs in CASES[fn]:
        assert mismatch(run(ns, fn, args, kwargs), getattr(R, fn)(*args, **kwargs)) is None


def test_every_function_has_two_alternatives_and_every_label_a_mutant():
    from collections import Counter

    counts = Counter(fn for fn, _ in ALTERNATIVES)
    assert all(counts[f] >= 2 for f in LABELS.functions), counts
    assert LABELS.required <= {label for label, *_ in MUTANTS}
