"""q09: the reference blocks equal a torchvision-style block with the same weights (stride 1 and 2,
channel changes, eval and train mode) and load torchvision-style state dicts; layer_gradient_norms
and make_mlp do what the catalogue says; every mutant / alternative in tests/mutants/q09_residual.py
is named / passes as it should through the harnesses."""
import numpy as np
import pytest
import torch
from torch import nn

from autograder.harnesses import q09_residual as H
from autograder.labels.q09_residual import LABELS
from autograder.references import q09_residual as R
from mutants.q09_residual import ALTERNATIVES, MUTANTS

SETUP = ("import numpy as np\nimport torch\nfrom torch import nn\nimport torch.nn.functional as F\n"
         "import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n")


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny tensors: a thread pool costs far more than it saves (milliseconds per conv on 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def namespace(source=None, replace=None):
    ns = dict(vars(R))
    exec(SETUP, ns)
    ns.update(replace or {})
    if source:
        exec(source, ns)
    return ns


# ---- an independent transcription of torchvision.models.resnet's blocks ---------------------------

def conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, kernel_size=3, stride=stride, padding=1, groups=1, bias=False, dilation=1)


def conv1x1(i, o, stride=1):
    return nn.Conv2d(i, o, kernel_size=1, stride=stride, bias=False)


class TVBasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class TVBottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv1x1(inplanes, planes)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * 4)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


def tv_block(block, c_in, c, stride, cls_basic=TVBasicBlock, cls_bottleneck=TVBottleneck):
    """As torchvision's ResNet._make_layer builds it."""
    expansion = 1 if block == "BasicBlock" else 4
    downsample = None
    if stride != 1 or c_in != c * expansion:
        downsample = nn.Sequential(conv1x1(c_in, c * expansion, stride), nn.BatchNorm2d(c * expansion))
    cls = cls_basic if block == "BasicBlock" else cls_bottleneck
    return cls(c_in, c, stride, downsample)


BLOCK_CASES = [("BasicBlock", (4, 4, 1)), ("BasicBlock", (4, 8, 1)), ("BasicBlock", (4, 4, 2)),
               ("BasicBlock", (3, 6, 2)), ("Bottleneck", (16, 4, 1)), ("Bottleneck", (8, 4, 1)),
               ("Bottleneck", (16, 4, 2)), ("Bottleneck", (6, 2, 2))]


def block_input(args, seed=0, n=2, hw=7):
    return torch.randn(n, args[0], hw, hw, generator=torch.Generator().manual_seed(seed + 7),
                       dtype=torch.float64)


def block_params(block, args, mode="eval", seed=0, grad=False):
    return dict(block=block, args=list(args), state_dict=H.make_state_dict(block, args, seed),
                x=block_input(args, seed), mode=mode, grad=grad)


@pytest.mark.parametrize("block,args", BLOCK_CASES)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_reference_block_equals_torchvision_style_block(block, args, mode):
    sd = H.make_state_dict(block, args, seed=3)
    tv = tv_block(block, *args).double()
    assert set(tv.state_dict()) == set(sd)                   # the helper's names are torchvision's
    tv.load_state_dict(sd, strict=True)
    ours = getattr(R, block)(*args).double()
    ours.load_state_dict(sd, strict=True)
    assert set(ours.state_dict()) == set(sd)
    tv.train(mode == "train")
    ours.train(mode == "train")
    x = block_input(args, 3)
    with torch.no_grad():
        want, got = tv(x.clone()), ours(x.clone())
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.shape[2] == (7 + args[2] - 1) // args[2]
    if mode == "train":
        for k, v in tv.state_dict().items():
            assert torch.equal(v, ours.state_dict()[k]), k


def test_reference_block_equals_real_torchvision_when_installed():
    resnet = pytest.importorskip("torchvision.models.resnet")
    for block, args in BLOCK_CASES:
        ref = tv_block(block, *args, cls_basic=resnet.BasicBlock, cls_bottleneck=resnet.Bottleneck)
        ref = ref.double().eval()
        ours = getattr(R, block)(*args).double().eval()
        ours.load_state_dict(ref.state_dict(), strict=True)
        x = block_input(args)
        with torch.no_grad():
            assert torch.allclose(ours(x), ref(x))


def test_block_trace_takes_a_state_dict_seed(block="Bottleneck", args=(6, 2, 2)):
    params = block_params(block, args)
    by_seed = H.block_trace(namespace(), **{**params, "state_dict": 0})
    by_dict = H.block_trace(namespace(), **params)
    assert by_seed["load"]["strict_ok"] and torch.equal(by_seed["out"], by_dict["out"])


@pytest.mark.parametrize("block,args", BLOCK_CASES)
def test_reference_trace(block, args):
    for mode, grad in (("eval", False), ("train", False), ("train", True)):
        t = H.block_trace(namespace(), **block_params(block, args, mode, grad=grad))
        assert t["load"]["strict_ok"] and t["error"] is None and not t["input_modified"]
        needs = args[2] != 1 or args[0] != args[1] * (1 if block == "BasicBlock" else 4)
        assert (t["structure"]["downsample"] != "None") == needs
        assert not any(c["bias"] for c in t["structure"]["convs"].values())
        if grad:
            assert t["x_grad"] is not None and "conv1.weight" in t["grads"]


# ---- what a block check does with the traces ------------------------------------------------------

def close(a, b):
    return (a is not None and b is not None and a.shape == b.shape
            and torch.allclose(a, b, rtol=1e-9, atol=1e-10))


def block_label(block, params, ns):
    """The label a check would report for the block in `ns` (None when it passes)."""
    got = H.block_trace(ns, **params)
    want = H.block_trace(namespace(), **params)
    if got["load"]["strict_ok"] and got["error"] is None and close(got["out"], want["out"]):
        return "inplace-on-input" if got["input_modified"] else None
    for label, factory in R.PITFALLS.variants.get(block, []):
        v = H.block_trace(namespace(replace={block: factory}), **params)
        if got["load"]["strict_ok"] == v["load"]["strict_ok"] and close(got["out"], v["out"]):
            return label
    for label, test in LABELS.detectors.get(block, []):
        if test(got, **params):
            return label
    return "crash" if got["error"] else "wrong-value"


def labels_over_cases(block, ns, modes=("eval", "train")):
    found = set()
    for b, args in BLOCK_CASES:
        if b != block:
            continue
        for mode in modes:
            label = block_label(block, block_params(block, args, mode), ns)
            if label:
                found.add(label)
    return found


# ---- layer_gradient_norms and make_mlp ------------------------------------------------------------

def test_layer_gradient_norms_by_hand():
    for model in H.GRAD_MODELS:
        for loss in ("cross_entropy", "mse"):
            t = H.gradient_norms_trace(namespace(), model=model, loss=loss)
            torch.manual_seed(0)
            net, shape = H._grad_model(model)
            net = net.double().train()
            g = torch.Generator().manual_seed(100)
            x = torch.randn((8,) + shape, generator=g, dtype=torch.float64)
            if loss == "mse":
                y, fn = torch.randn(8, 3, generator=g, dtype=torch.float64), nn.MSELoss()
            else:
                y, fn = torch.randint(0, 3, (8,), generator=g), nn.CrossEntropyLoss()
            fn(net(x), y).backward()
            modules = dict(net.named_modules())
            want = [modules[n].weight.grad.norm().item() for n in t["layers_called"]]
            assert np.allclose(t["norms"], want, rtol=1e-12)
            assert not t["weights_changed"]
    called = H.gradient_norms_trace(namespace(), model="reordered")["layers_called"]
    assert called == ["first", "second", "head"]
    assert H.gradient_norms_trace(namespace(), model="shared")["layers_called"] == ["inp", "mid", "out"]


def mlp_cases():
    return [dict(depth=d, width=w, residual=r, seed=s) for d, w, s in ((1, 3, 0), (4, 5, 1), (6, 8, 2))
            for r in (False, True)]


def test_make_mlp_by_hand():
    for case in mlp_cases():
        t = H.mlp_trace(namespace(), **case)
        assert t["linear_layers"] == [[case["width"], case["width"], True]] * case["depth"]
        assert t["linear_calls"] == case["depth"]
        # the same computation written out with the harness's weights
        torch.manual_seed(case["seed"])
        g = torch.Generator().manual_seed(case["seed"] + 1)
        x = torch.randn(4, case["width"], generator=g, dtype=torch.float64)
        h = x
        for _ in range(case["depth"]):
            w = case["width"]
            W = torch.randn(w, w, generator=g, dtype=torch.float64) / w ** 0.5
            b = 0.1 * torch.randn(case["width"], generator=g, dtype=torch.float64)
            a = torch.relu(h @ W.T + b)
            h = h + a if case["residual"] else a
        assert torch.allclose(t["out"], h, rtol=1e-12, atol=1e-12)


def test_fifty_layer_plain_mlp_vanishes_residual_twin_does_not():
    torch.manual_seed(0)
    ratios = {}
    for residual in (False, True):
        model = R.make_mlp(50, 32, residual).double()
        x = torch.randn(64, 32, dtype=torch.float64)
        norms = R.layer_gradient_norms(model, x, torch.zeros(64, 32, dtype=torch.float64), nn.MSELoss())
        assert len(norms) == 50
        ratios[residual] = norms[0] / max(norms[-1], 1e-300)
    assert ratios[False] < 1e-3 < 1e-1 < ratios[True]


# ---- mutants and alternatives ---------------------------------------------------------------------

def _harness_labels(fn, ns):
    """The labels a check would name for `fn` in `ns` over the test inputs (empty: passes)."""
    if fn in ("BasicBlock", "Bottleneck"):
        return labels_over_cases(fn, ns)
    found = set()
    if fn == "layer_gradient_norms":
        for model in H.GRAD_MODELS:
            got = H.gradient_norms_trace(ns, model=model)
            want = H.gradient_norms_trace(namespace(), model=model)
            if len(got["norms"]) == len(want["norms"]) and np.allclose(got["norms"], want["norms"], rtol=1e-9):
                if got["hooks_left"]:
                    found.add("hooks-left-behind")
                continue
            for label, v in R.PITFALLS.variants[fn]:
                vt = H.gradient_norms_trace(namespace(replace={fn: v}), model=model)
                same_length = len(vt["norms"]) == len(got["norms"])
                if same_length and np.allclose(got["norms"], vt["norms"], rtol=1e-9):
                    found.add(label)
                    break
            else:
                found.add("wrong-layer-count" if len(got["norms"]) != len(want["norms"])
                          else "wrong-value")
    if fn == "make_mlp":
        for case in mlp_cases():
            got, want = H.mlp_trace(ns, **case), H.mlp_trace(namespace(), **case)
            if (got["linear_layers"], got["linear_calls"]) != (want["linear_layers"], want["linear_calls"]):
                found.add("wrong-mlp-structure")
                continue
            if close(got["out"], want["out"]):
                continue
            for label, v in R.PITFALLS.variants[fn]:
                if close(got["out"], H.mlp_trace(namespace(replace={fn: v}), **case)["out"]):
                    found.add(label)
                    break
            else:
                found.add("wrong-value")
    return found


@pytest.mark.parametrize("label,fn,source", MUTANTS, ids=[m[0] for m in MUTANTS])
def test_mutant_is_named(label, fn, source):
    assert _harness_labels(fn, namespace(source)) == {label}


@pytest.mark.parametrize("fn,source", ALTERNATIVES, ids=[f"{a[0]}-{i}" for i, a in enumerate(ALTERNATIVES)])
def test_alternative_passes(fn, source):
    assert _harness_labels(fn, namespace(source)) == set()


def test_every_function_has_two_alternatives_and_every_label_a_mutant():
    from collections import Counter

    counts = Counter(fn for fn, _ in ALTERNATIVES)
    assert all(counts[f] >= 2 for f in LABELS.functions), counts
    assert LABELS.required <= {label for label, *_ in MUTANTS}
