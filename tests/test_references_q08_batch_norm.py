"""q08: the references equal torch.nn.functional.batch_norm (training and eval, 2-D and 4-D, running
statistics included), autograd, and conv + eval-mode BN; every mutant / alternative in
tests/mutants/q08_batch_norm.py behaves as labelled."""
import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograder.harnesses import q08_batch_norm as H
from autograder.references import q08_batch_norm as R
from mutants.q08_batch_norm import ALTERNATIVES, MUTANTS
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


def bn_args(seed, shape, training, momentum=None):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.normal(loc=rng.normal(size=(1, c) + (1,) * (len(shape) - 2)) * 3, scale=2.0, size=shape)
    args = (x, rng.uniform(0.5, 2, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 3, c),
            training)
    return args, ({} if momentum is None else {"momentum": momentum})


def fold_args(seed, bias=True):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=(4, 3, 3, 3))
    return (w, rng.normal(size=4) if bias else np.zeros(4), rng.uniform(0.5, 2, 4), rng.normal(size=4),
            rng.normal(size=4), rng.uniform(0.2, 3, 4)), {}


CASES = {
    "batchnorm_forward": [bn_args(1, (6, 4), True), bn_args(2, (4, 3, 5, 5), True),
                          bn_args(3, (6, 4), False), bn_args(4, (3, 3, 4, 4), False),
                          bn_args(5, (5, 3, 2, 3), True, momentum=0.3), bn_args(6, (8, 2), True, 0.05)],
    "batchnorm_backward": [((np.random.default_rng(s).normal(size=(n, c)),
                             np.random.default_rng(s + 1).normal(size=(n, c)) * 2 + 1,
                             np.random.default_rng(s + 2).uniform(0.5, 2, c)), {})
                           for s, n, c in ((7, 6, 4), (8, 10, 3))],
    "fold_batchnorm": [fold_args(9), fold_args(10, bias=False)],
}


def run(ns, fn, args, kwargs):
    return ns[fn](*copy.deepcopy(args), **copy.deepcopy(kwargs))


def torch_bn(args, kwargs):
    x, gamma, beta, rm, rv, training = args
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    out = F.batch_norm(torch.tensor(x), rm_t, rv_t, torch.tensor(gamma), torch.tensor(beta),
                       training=training, momentum=kwargs.get("momentum", 0.1), eps=kwargs.get("eps", 1e-5))
    return out.numpy(), rm_t.numpy(), rv_t.numpy()


# ---- the references against torch ----------------------------------------------------------------

@pytest.mark.parametrize("shape", [(6, 4), (2, 5), (4, 3, 5, 5), (2, 2, 1, 7), (3, 4, 6)])
@pytest.mark.parametrize("training", [True, False])
def test_forward_equals_F_batch_norm(shape, training):
    for seed, momentum, eps in ((0, 0.1, 1e-5), (1, 0.5, 1e-3), (2, 0.0, 1e-5), (3, 1.0, 0.1)):
        args, _ = bn_args(seed, shape, training)
        kwargs = {"momentum": momentum, "eps": eps}
        before = copy.deepcopy(args)
        got = R.batchnorm_forward(*args, **kwargs)
        want = torch_bn(args, kwargs)
        for g, w in zip(got, want):
            assert np.allclose(g, w, rtol=1e-10, atol=1e-12)
        assert all(np.array_equal(a, b) for a, b in zip(args[:5], before[:5]))   # inputs untouched


def test_running_statistics_over_many_steps_equal_nn_BatchNorm2d():
    bn = torch.nn.BatchNorm2d(3, momentum=0.2).double()
    rm, rv = np.zeros(3), np.ones(3)
    gamma, beta = bn.weight.detach().numpy().copy(), bn.bias.detach().numpy().copy()
    rng = np.random.default_rng(0)
    for step in range(50):
        x = rng.normal(loc=2.0, scale=3.0, size=(4, 3, 3, 3))
        out, rm, rv = R.batchnorm_forward(x, gamma, beta, rm, rv, True, momentum=0.2)
        assert np.allclose(out, bn(torch.tensor(x)).detach().numpy())
    assert np.allclose(rm, bn.running_mean.numpy()) and np.allclose(rv, bn.running_var.numpy())
    bn.eval()
    x = rng.normal(size=(1, 3, 2, 2))   # a batch of one is fine in eval
    out, rm2, rv2 = R.batchnorm_forward(x, gamma, beta, rm, rv, False, momentum=0.2)
    assert np.allclose(out, bn(torch.tensor(x)).detach().numpy())
    assert np.array_equal(rm2, rm) and np.array_equal(rv2, rv)


@pytest.mark.parametrize("shape", [(6, 4), (2, 3), (17, 5), (3, 2, 4, 4)])
def test_backward_equals_autograd(shape):
    rng = np.random.default_rng(sum(shape))
    x, dout = rng.normal(size=shape) * 3 + 1, rng.normal(size=shape)
    gamma, beta = rng.uniform(0.5, 2, shape[1]), rng.normal(size=shape[1])
    xt, gt, bt = (torch.tensor(a, requires_grad=True) for a in (x, gamma, beta))
    F.batch_norm(xt, None, None, gt, bt, training=True, eps=1e-5).backward(torch.tensor(dout))
    dx, dgamma, dbeta = R.batchnorm_backward(dout, x, gamma)
    assert np.allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-12)
    assert np.allclose(dgamma, gt.grad.numpy()) and np.allclose(dbeta, bt.grad.numpy())


@pytest.mark.parametrize("bias", [True, False])
def test_folded_conv_equals_conv_then_eval_bn(bias):
    for seed in range(3):
        (w, b, gamma, beta, rm, rv), _ = fold_args(seed, bias)
        x = torch.tensor(np.random.default_rng(seed + 10).normal(size=(2, 3, 7, 7)))
        conv = F.conv2d(x, torch.tensor(w), None if b is None else torch.tensor(b), padding=1)
        want = F.batch_norm(conv, torch.tensor(rm), torch.tensor(rv), torch.tensor(gamma),
                            torch.tensor(beta), training=False)
        fw, fb = R.fold_batchnorm(w, b, gamma, beta, rm, rv)
        got = F.conv2d(x, torch.tensor(fw), torch.tensor(fb), padding=1)
        assert np.allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_fold_harness_reports_the_target_and_the_folded_conv():
    (w, b, gamma, beta, rm, rv), _ = fold_args(3)
    x = np.random.default_rng(4).normal(size=(2, 3, 6, 6))
    params = dict(conv_weight=w, conv_bias=b, gamma=gamma, beta=beta, running_mean=rm,
                  running_var=rv, x=x)
    t = H.folded_conv_trace(namespace(), **params)
    assert t["error"] is None and not t["inputs_modified"]
    assert np.allclose(t["folded"], t["conv_then_bn"], rtol=1e-10, atol=1e-12)
    for label, variant in R.PITFALLS.variants["fold_batchnorm"]:
        v = H.folded_conv_trace(namespace() | {"fold_batchnorm": variant}, **params)
        assert mismatch(v["folded"], t["conv_then_bn"]) is not None, label
    broken = H.folded_conv_trace(namespace("def fold_batchnorm(*a, **k):\n    return a[0].T, a[1]\n"), **params)
    assert broken["folded"] is None and "RuntimeError" in broken["error"]


# ---- mutants and alternatives ---------------------------------------------------------------------

def _variants(fn, label):
    return [v for lab, v in R.PITFALLS.variants.get(fn, []) if lab == label]


def _inputs_changed(args, kwargs, after_args, after_kwargs):
    return mismatch(list(after_args), list(args), rtol=0, atol=0, equal_nan=True) is not None


@pytest.mark.parametrize("label,fn,source", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_named(label, fn, source):
    ns = namespace(source)
    if label == "mutates-input":
        changed = False
        for args, kwargs in CASES[fn]:
            passed = copy.deepcopy(args)
            got = ns[fn](*passed, **kwargs)
            changed |= _inputs_changed(args, kwargs, passed, kwargs)
            assert mismatch(got, getattr(R, fn)(*args, **kwargs)) is None   # values right
        assert changed
        return
    variants = _variants(fn, label)
    assert variants, f"no variant registered under {label}"
    differing = 0
    for args, kwargs in CASES[fn]:
        passed = copy.deepcopy(args)
        got = ns[fn](*passed, **kwargs)
        assert not _inputs_changed(args, kwargs, passed, kwargs)
        if mismatch(got, getattr(R, fn)(*args, **kwargs)) is None:
            continue
        differing += 1
        assert any(_runs(v, args, kwargs) and mismatch(got, v(*copy.deepcopy(args), **kwargs),
                                                         equal_nan=True) is None
                   for v in variants), f"{label}: no variant reproduces the mutant on {args[0].shape}"
    assert differing, f"{label}: the mutant agrees with the reference on every case"


def _masked_match(got, variant):
    """Masked entries of the variant match anything (the brief's rule), shape included."""
    if isinstance(variant, (tuple, list)):
        return len(got) == len(variant) and all(_masked_match(g, v) for g, v in zip(got, variant))
    if isinstance(variant, np.ma.MaskedArray):
        return bool(np.ma.getmaskarray(variant).all()) or mismatch(got, variant.filled(0)) is None
    return mismatch(got, variant) is None


def test_wrong_axes_variants_name_per_example_and_per_position_statistics():
    """The masked variants: only the output is compared; the running statistics are free."""
    args, kwargs = CASES["batchnorm_forward"][1]            # 4-D, training
    x, gamma, beta = args[:3]
    shape = (1, -1, 1, 1)
    for axes in ((0,), (1, 2, 3), (2, 3)):
        mu, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
        out = gamma.reshape(shape) * (x - mu) / np.sqrt(var + 1e-5) + beta.reshape(shape)
        student = (out, np.zeros(3), np.ones(3))
        assert mismatch(student, R.batchnorm_forward(*args, **kwargs)) is not None
        assert any(_masked_match(student, v(*args, **kwargs))
                   for v in _variants("batchnorm_forward", "wrong-reduction-axes")
                   if _runs(v, args, kwargs))
    # never on 2-D input reduced over axis 0, which is right
    args2, kwargs2 = CASES["batchnorm_forward"][0]
    assert not any(_runs(v, args2, kwargs2) and _masked_match(R.batchnorm_forward(*args2), v(*args2))
                   for v in _variants("batchnorm_forward", "wrong-reduction-axes")[1:2])


def _runs(v, args, kwargs):
    try:
        v(*args, **kwargs)
        return True
    except ValueError:
        return False


@pytest.mark.parametrize("fn,source", ALTERNATIVES, ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_alternative_equals_reference(fn, source):
    ns = namespace(source)
    for args, kwargs in CASES[fn]:
        passed = copy.deepcopy(args)
        assert mismatch(ns[fn](*passed, **kwargs), getattr(R, fn)(*args, **kwargs)) is None
        assert not _inputs_changed(args, kwargs, passed, kwargs)


def test_every_function_has_two_alternatives_and_every_label_a_mutant():
    from collections import Counter

    counts = Counter(fn for fn, _ in ALTERNATIVES)
    assert all(counts[f] >= 2 for f in R.LABELS.functions), counts
    assert R.LABELS.required <= {label for label, *_ in MUTANTS}
