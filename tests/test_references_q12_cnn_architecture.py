"""q12: the references agree with torch's own shapes and counts; the mutants are caught with their
labels (by a pitfall variant, or by the trace rules the check applies), and the alternatives pass."""
from __future__ import annotations

import importlib
import importlib.util
import time
import types
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autograder.labels import q12_cnn_architecture as rules
from autograder.labels.q12_cnn_architecture import LABELS
from autograder.references import q12_cnn_architecture as ref

ROOT = Path(__file__).resolve().parents[1]
corpus = importlib.import_module("mutants.q12_cnn_architecture")
SETUP = "import numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"


def _load_harness():
    path = ROOT / "autograder" / "harnesses" / "q12_cnn_architecture.py"
    spec = importlib.util.spec_from_file_location("q12_harness_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = _load_harness()


def namespace(source: str = "", replace: dict | None = None) -> dict:
    """The references' functions in a dict that is also their globals (as the oracle builds it),
    the notebook's imports, then `source` executed on top (a mutant or an alternative)."""
    ns: dict = {}
    exec(SETUP, ns)
    for name, value in vars(ref).items():
        if isinstance(value, types.FunctionType) and value.__module__ == ref.__name__:
            rebound = types.FunctionType(value.__code__, ns, value.__name__, value.__defaults__,
                                         value.__closure__)
            rebound.__kwdefaults__ = value.__kwdefaults__
            value = rebound
        ns.setdefault(name, value)
    ns.update(replace or {})
    if source:
        exec(source, ns)
    return ns


def diagnose_build_cnn(trace):
    """The label of the first problem the checks' rules find in a build_cnn_trace, or None."""
    problem = rules.build_cnn_problem(trace)
    return problem[0] if problem else None


def diagnose_model_state(trace):
    problem = rules.model_state_problem(trace, "the call")
    return problem[0] if problem else None


def same(a, b, rtol=1e-5, atol=1e-6) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor) or isinstance(a, np.ndarray) \
            or isinstance(b, np.ndarray):
        a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
        return a.shape == b.shape and np.allclose(a.astype(float), b.astype(float), rtol=rtol, atol=atol)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, rtol, atol) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return set(a) == set(b) and all(same(a[k], b[k], rtol, atol) for k in a)
    return a == b


# ---- cnn_output_shapes against torch --------------------------------------------------------------

def _torch_shapes(spec, input_shape):
    x = torch.zeros(input_shape)
    shapes = []
    for layer in spec:
        if layer[0] == "conv":
            x = nn.Conv2d(x.shape[1], layer[1], layer[2], layer[3], layer[4])(x)
        elif layer[0] == "pool":
            x = nn.MaxPool2d(layer[1], layer[2])(x)
        elif layer[0] == "flatten":
            x = nn.Flatten()(x)
        else:
            x = nn.Linear(x.shape[-1], layer[1])(x)
        shapes.append(tuple(x.shape))
    return shapes


def _random_specs(n, seed=0):
    rng = np.random.default_rng(seed)
    specs = []
    while len(specs) < n:
        b, c, h, w = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(9, 40)), \
            int(rng.integers(9, 40))
        spec, hh, ww = [], h, w
        for _ in range(int(rng.integers(1, 4))):
            if rng.random() < 0.6:
                k, s, p = int(rng.integers(1, 6)), int(rng.integers(1, 4)), int(rng.integers(0, 3))
                if p > k // 2 or min(hh, ww) + 2 * p < k:
                    continue
                spec.append(("conv", int(rng.integers(1, 9)), k, s, p))
                hh, ww = (hh + 2 * p - k) // s + 1, (ww + 2 * p - k) // s + 1
            else:
                k, s = int(rng.integers(2, 4)), int(rng.integers(1, 4))
                if min(hh, ww) < k:
                    continue
                spec.append(("pool", k, s))
                hh, ww = (hh - k) // s + 1, (ww - k) // s + 1
        spec += [("flatten",), ("fc", int(rng.integers(2, 12)))]
        if rng.random() < 0.5:
            spec.append(("fc", int(rng.integers(2, 12))))
        specs.append((spec, (b, c, h, w)))
    return specs


CLASSIC_SPECS = [
    ([("conv", 16, 3, 1, 1), ("pool", 2, 2), ("conv", 32, 3, 1, 1), ("pool", 2, 2), ("flatten",),
      ("fc", 10)], (2, 3, 224, 224)),
    ([("conv", 64, 7, 2, 3), ("pool", 3, 2), ("conv", 128, 3, 1, 1), ("pool", 2, 2), ("flatten",),
      ("fc", 100), ("fc", 10)], (1, 3, 224, 224)),
    ([("conv", 6, 5, 1, 0), ("pool", 2, 2), ("conv", 16, 5, 1, 0), ("pool", 2, 2), ("flatten",),
      ("fc", 120), ("fc", 84), ("fc", 10)], (4, 1, 32, 32)),
    ([("conv", 8, 3, 1, 0), ("pool", 3, 2), ("pool", 2, 2), ("flatten",), ("fc", 5)], (2, 3, 15, 21)),
    ([("pool", 3, 3), ("conv", 4, 3, 2, 1), ("flatten",), ("fc", 7)], (3, 2, 28, 17)),
    ([("conv", 8, 3, 1, 1), ("pool", 3, 2), ("flatten",), ("fc", 6)], (2, 3, 16, 20)),
]


def test_cnn_output_shapes_equal_torch():
    for spec, shape in CLASSIC_SPECS + _random_specs(60):
        want = _torch_shapes(spec, shape)
        assert ref.cnn_output_shapes(spec, shape) == want, (spec, shape)
        # lists (as JSON would send them) work as well as tuples
        assert ref.cnn_output_shapes([list(s) for s in spec], list(shape)) == want


def test_cnn_output_shapes_variants_differ_from_reference():
    spec, shape = CLASSIC_SPECS[5]
    want = ref.cnn_output_shapes(spec, shape)
    for fn, variants in ref.PITFALLS.variants.items():
        if fn == "cnn_output_shapes":
            for label, variant in variants:
                assert variant(spec, shape) != want, (label, variant.__name__)


# ---- layer_shapes and count_parameters on the harness models --------------------------------------

SHARED_UNUSED_EXPECTED = [("stem.0", (2, 16, 32, 32)), ("stem.1", (2, 16, 32, 32)), ("act", (2, 16, 32, 32)),
                          ("mix", (2, 16, 16, 16)), ("act", (2, 16, 16, 16)), ("mix", (2, 16, 16, 16)),
                          ("act", (2, 16, 16, 16)), ("pool", (2, 16, 2, 2)), ("head", (2, 5))]


def test_layer_shapes_reference_on_every_model():
    ns = namespace()
    trace = H.layer_shapes_trace(ns, model="shared_unused", input_shape=[2, 3, 32, 32])
    assert trace["value"] == SHARED_UNUSED_EXPECTED
    for name in ("plain_cnn", "eval_cnn", "mixed_mode", "frozen_bn"):
        model = H.build_model(name)
        x = torch.zeros(3, 3, 20, 24)
        want = []
        model.eval()
        with torch.no_grad():
            for i, layer in enumerate(model):      # a Sequential of leaves: torch's own shapes
                x = layer(x)
                want.append((str(i), tuple(x.shape)))
        trace = H.layer_shapes_trace(ns, model=name, input_shape=(3, 3, 20, 24))
        assert trace["value"] == want
        assert diagnose_model_state(trace) is None, trace
        assert trace["grads_left"] is False
    # a model built in float64 is run with a float64 input
    model = H.build_model("plain_cnn").double()
    assert ref.layer_shapes(model, (1, 3, 8, 8))[-1] == ("9", (1, 10))


def test_count_parameters_by_hand():
    # conv 3*8*9+8, bn 8+8, conv 8*16*9+16, linear 64*10+10
    plain = 224 + 16 + 1168 + 650
    expected = {"plain_cnn": plain, "frozen_bn": plain - 224 - 16, "frozen_mlp": 5 * 3 + 3,
                "tied": 20 * 6 + 6 * 6 + 6}
    ns = namespace()
    for name, want in expected.items():
        trace = H.count_parameters_trace(ns, model=name)
        assert trace["value"] == want and diagnose_model_state(trace) is None
    # the variants give the numbers of the classic mistakes
    m = H.build_model("frozen_bn")
    assert ref.count_parameters_all(m) == plain
    assert ref.count_parameters_with_buffers(m) == plain - 240 + (8 + 8 + 1)   # BN's mean, var, count
    with pytest.raises(ValueError):
        ref.count_parameters_state_dict(H.build_model("frozen_mlp"))


# ---- build_cnn ------------------------------------------------------------------------------------

def test_build_cnn_reference_meets_the_contract_on_one_core():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        start = time.perf_counter()
        trace = H.build_cnn_trace(namespace())
        seconds = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    assert [f["shape"] for f in trace["forwards"]] == [[2, 10], [1, 10]]
    assert not trace["probabilities"] and not trace["log_probabilities"]
    assert trace["trainable_parameters"] < rules.MAX_PARAMETERS
    assert trace["learning"]["final_loss"] < 0.05
    assert diagnose_build_cnn(trace) is None
    print(f"\nreference build_cnn trace on one core: {seconds:.2f} s "
          f"(training {trace['learning']['seconds']:.2f} s)")
    assert seconds < 30   # one core of a loaded machine; the check allows 60 s of training
    small = H.build_cnn_trace(namespace(), num_classes=4, in_channels=1, learn=False, others=[(7, 2)])
    assert [f["shape"] for f in small["forwards"]] == [[2, 4], [1, 4]]
    assert [f["shape"] for f in small["others"][0]["forwards"]] == [[2, 7]]
    assert diagnose_build_cnn(small) is None


# ---- the corpus -----------------------------------------------------------------------------------

def _variants(function, label):
    return [fn for lab, fn in ref.PITFALLS.variants.get(function, []) if lab == label]


def test_every_required_label_has_a_mutant_and_every_function_two_alternatives():
    assert {label for label, _, _ in corpus.MUTANTS} >= LABELS.required
    for fn in LABELS.functions:
        assert sum(1 for f, _ in corpus.ALTERNATIVES if f == fn) >= 2, fn
    for label, fn, _ in corpus.MUTANTS:
        assert label in LABELS and fn in LABELS.functions


MODELS = ("plain_cnn", "eval_cnn", "mixed_mode", "shared_unused", "frozen_bn")
COUNT_MODELS = ("plain_cnn", "frozen_mlp", "frozen_bn", "tied")


def _caught(label, function, source) -> str:
    """Why the mutant is not caught with `label` (empty when it is)."""
    ns = namespace(source)
    if function == "cnn_output_shapes":
        differs = False
        for spec, shape in CLASSIC_SPECS:
            got, want = ns[function](spec, shape), ref.cnn_output_shapes(spec, shape)
            if not same(got, want):
                differs = True
                if not any(same(got, v(spec, shape)) for v in _variants(function, label)):
                    return f"no {label} variant reproduces {got} on {spec}"
        return "" if differs else "never differs from the reference"
    if function in ("layer_shapes", "count_parameters"):
        harness = H.layer_shapes_trace if function == "layer_shapes" else H.count_parameters_trace
        models = MODELS if function == "layer_shapes" else COUNT_MODELS
        params = {"input_shape": (2, 3, 32, 32)} if function == "layer_shapes" else {}
        differs = False
        for model in models:
            got = harness(ns, model=model, **params)
            want = harness(namespace(), model=model, **params)
            if label == "mutates-input":
                differs |= diagnose_model_state(got) == label
                continue
            assert diagnose_model_state(got) is None
            if not same(got["value"], want["value"]):
                differs = True
                traces = [harness(namespace(replace={function: v}), model=model, **params)
                          for v in _variants(function, label)]
                if not any(same(got["value"], t["value"]) for t in traces):
                    return f"no {label} variant reproduces {got['value']} on {model}"
        return "" if differs else "never differs from the reference"
    if function == "build_cnn":
        trace = H.build_cnn_trace(ns, learn=label == "cannot-learn")
        got = diagnose_build_cnn(trace)
        return "" if got == label else f"diagnosed {got}: {trace.get('forwards')} {trace.get('learning')}"
    return f"no test for {function}"


@pytest.mark.parametrize("label,function,source", corpus.MUTANTS,
                         ids=[f"{m[0]}-{m[1]}-{i}" for i, m in enumerate(corpus.MUTANTS)])
def test_mutant_is_caught_with_its_label(label, function, source):
    assert _caught(label, function, source) == ""


@pytest.mark.parametrize("function,source", corpus.ALTERNATIVES,
                         ids=[f"{a[0]}-{i}" for i, a in enumerate(corpus.ALTERNATIVES)])
def test_alternative_equals_the_reference(function, source):
    ns = namespace(source)
    if function == "cnn_output_shapes":
        for spec, shape in CLASSIC_SPECS + _random_specs(20, seed=1):
            assert same(ns[function](spec, shape), ref.cnn_output_shapes(spec, shape)), spec
    elif function in ("layer_shapes", "count_parameters"):
        harness = H.layer_shapes_trace if function == "layer_shapes" else H.count_parameters_trace
        models = MODELS if function == "layer_shapes" else COUNT_MODELS
        params = {"input_shape": (2, 3, 32, 32)} if function == "layer_shapes" else {}
        for model in models:
            got = harness(ns, model=model, **params)
            want = harness(namespace(), model=model, **params)
            assert same(got["value"], want["value"]), model
            assert diagnose_model_state(got) is None, (model, got)
    else:
        trace = H.build_cnn_trace(ns)
        assert diagnose_build_cnn(trace) is None, (trace["forwards"], trace["learning"])
