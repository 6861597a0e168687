"""Checks for q12_cnn_architecture. Inputs come from nb.rng / nb.seed (public and hidden runs).

cnn_output_shapes takes plain data: nb.expect compares it with the reference, which applies the
spec's layers to a shapes-only tensor in torch (torch's own shapes), and names the pitfall whose
variant reproduces a wrong answer.

build_cnn is judged on behaviour by rules (autograder/labels/q12_cnn_architecture.py), applied to
the trace of the harness `build_cnn_trace` (harnesses/q12_cnn_architecture.py): the student's model
is built with a seed, run in eval mode on (2, 3, 224, 224) and (1, 3, 224, 224) batches, its
trainable parameters counted, and trained for 10 Adam steps (lr 1e-3) on 4 images of 4 classes
within a time budget on one core. No random network reproduces another, so no oracle is asked;
the trace is made once per graded notebook and run (public, hidden) and read by every check.

layer_shapes and count_parameters take a model: their checks run a harness that builds a named
model (harnesses/q12_cnn_architecture.py: build_model), hands it to the student's function and
reports the value and what the call changed in the model; the oracle gives the same harness's
trace on the reference (torch's forward hooks, model.parameters()) and on each pitfall variant.
"""
import pytest

from autograder.labels.q12_cnn_architecture import (
    forward_problem, learning_problem, logits_problem, model_state_problem, size_problem)
from whiteboard.grading.checks import CheckFailed
from whiteboard.grading.compare import mismatch, show


# ---- build_cnn ------------------------------------------------------------------------------------

_BUILDS: dict = {}   # (id(assignment), hidden) -> (assignment, trace, failure)


def cnn_trace(nb):
    """The student's CNN built, run and trained once per graded notebook and run; every check of
    build_cnn reads it. The hidden run draws other weights, images and class counts."""
    key = (id(nb.assignment), nb.hidden)
    stored = _BUILDS.get(key)
    if stored is None or stored[0] is not nb.assignment:
        rng = nb.rng(0)
        num_classes = 10 if not nb.hidden else int(rng.choice([5, 6, 8, 10, 12]))
        other = (int(rng.integers(2, 5)) if nb.hidden else 3, 1)   # (classes, channels): grayscale
        params = dict(num_classes=num_classes, in_channels=3, seed=nb.seed(1), others=[other],
                      budget=60.0)
        trace, failure = None, None
        try:
            trace = nb.run("build_cnn", "build_cnn_trace", params, timeout=150)
        except CheckFailed as err:
            failure = err
        stored = _BUILDS[key] = (nb.assignment, trace, failure)
    _, trace, failure = stored
    if failure is not None:
        raise CheckFailed(failure.label, failure.message)
    return trace


def fail_on(nb, problem):
    if problem:
        raise nb.fail(*problem)


@pytest.mark.grades("build_cnn")
class TestBuildCnn:
    @pytest.mark.points(3)
    def test_logits_shape(self, nb):
        """(B, 3, 224, 224) -> (B, num_classes) for B = 2 and B = 1, in eval mode"""
        trace = cnn_trace(nb)
        fail_on(nb, forward_problem({**trace, "others": []}))

    @pytest.mark.points(1)
    def test_num_classes_and_in_channels(self, nb):
        """build_cnn(num_classes, 1) maps a grayscale batch to num_classes logits"""
        fail_on(nb, forward_problem(cnn_trace(nb)))

    @pytest.mark.points(2)
    def test_returns_logits(self, nb):
        """the outputs are raw logits, not (log-)probabilities"""
        trace = cnn_trace(nb)
        fail_on(nb, forward_problem({**trace, "others": []}))
        fail_on(nb, logits_problem(trace))

    @pytest.mark.points(1)
    def test_fewer_than_5M_parameters(self, nb):
        """fewer than 5 million trainable parameters"""
        trace = cnn_trace(nb)
        fail_on(nb, forward_problem({**trace, "others": []}))
        fail_on(nb, size_problem(trace))

    @pytest.mark.points(3)
    def test_learns(self, nb):
        """10 Adam steps overfit 4 images: train-mode loss below 0.5, in time on one core"""
        trace = cnn_trace(nb)
        fail_on(nb, forward_problem({**trace, "others": []}))
        problem = learning_problem(trace)
        if problem and problem[0] == "cannot-learn" and logits_problem(trace):
            # a softmax before the loss caps what cross-entropy can reach: that is the cause
            label, message = logits_problem(trace)
            raise nb.fail(label, problem[1] + "\nThe outputs are probabilities: cross-entropy "
                          "applies its own log-softmax to them, so the loss cannot go much below "
                          "log(1 + (C - 1)/e) whatever the weights.\n" + message)
        fail_on(nb, problem)


# ---- layer_shapes ---------------------------------------------------------------------------------

def entries(value):
    """[(name, (dims...)), ...] from a trace's value, or None."""
    if value is None:
        return None
    return [(str(name), tuple(int(d) for d in shape)) for name, shape in value]


def first_difference(got, want) -> str:
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"entry {i} is {g}, expected {w}"
    if len(got) != len(want):
        return f"{len(got)} entries, expected {len(want)}"
    return ""


def named_by_variants(nb, harness, params, function, got_value):
    def same(g, v):
        return entries(v["value"]) == g

    return nb.match_variant(got_value, nb.variant_traces(harness, params, function), same)


MODEL_TEXT = {
    "plain_cnn": "an nn.Sequential CNN (conv, batch norm, ReLU, pools, linear head) in train mode",
    "eval_cnn": "an nn.Sequential CNN (conv, batch norm, ReLU, pools, linear head) in eval mode",
    "shared_unused": ("a module whose forward calls one ReLU three times and one conv twice, uses "
                      "F.max_pool2d, never calls one registered conv, and calls `head`, registered "
                      "first, last"),
    "frozen_mlp": "an MLP whose first Linear is frozen (requires_grad=False)",
    "frozen_bn": "a CNN whose first conv and batch norm are frozen (batch norm has buffers)",
    "tied": "an embedding and an output layer that share one weight matrix",
}


def check_layer_shapes(nb, model, input_shape, width):
    params = dict(model=model, input_shape=list(input_shape), seed=nb.seed(50), width=width)
    call = f"layer_shapes(model, {tuple(input_shape)}) on {MODEL_TEXT[model]}"
    got = nb.run("layer_shapes", "layer_shapes_trace", params)
    fail_on(nb, model_state_problem(got, call))
    value = entries(got["value"])
    if value is None:
        raise nb.fail("wrong-type", f"{call} returned a {got['returned_type']}; expected a list of "
                      "(qualified name, output shape) pairs.")
    want = entries(nb.trace("layer_shapes_trace", params, "layer_shapes")["value"])
    if value != want:
        label = named_by_variants(nb, "layer_shapes_trace", params, "layer_shapes", value)
        if label is None:
            label = "wrong-shape" if [n for n, _ in value] == [n for n, _ in want] else "wrong-value"
        raise nb.fail(label, f"{call}:\n  expected: {show(want)}\n  got:      {show(value)}\n"
                      f"  ({first_difference(value, want)})")


@pytest.mark.grades("layer_shapes")
class TestLayerShapes:
    @pytest.mark.points(2)
    def test_sequential_cnn(self, nb):
        """every leaf of an nn.Sequential CNN with its output shape, batch included"""
        rng = nb.rng(2)
        shape = (int(rng.integers(1, 4)), 3, int(rng.integers(12, 40)), int(rng.integers(12, 40)))
        check_layer_shapes(nb, "plain_cnn", shape, int(rng.choice([4, 6, 8])))

    @pytest.mark.points(2)
    def test_call_order_and_repeats(self, nb):
        """leaves in call order, one entry per call; a module never called does not appear"""
        rng = nb.rng(3)
        shape = (int(rng.integers(1, 4)), 3, int(rng.integers(8, 30)), int(rng.integers(8, 30)))
        check_layer_shapes(nb, "shared_unused", shape, int(rng.choice([8, 12, 16])))

    @pytest.mark.points(1)
    def test_model_left_unchanged(self, nb):
        """a model in eval mode stays in eval mode; one in train mode keeps its statistics"""
        rng = nb.rng(4)
        check_layer_shapes(nb, "eval_cnn", (2, 3, int(rng.integers(10, 30)), int(rng.integers(10, 30))),
                           int(rng.choice([4, 8])))
        check_layer_shapes(nb, "plain_cnn", (3, 3, int(rng.integers(10, 30)), int(rng.integers(10, 30))),
                           int(rng.choice([4, 8])))


# ---- cnn_output_shapes ----------------------------------------------------------------------------

@pytest.mark.grades("cnn_output_shapes")
class TestCnnOutputShapes:
    @pytest.mark.points(2)
    def test_vgg_style_224(self, nb):
        """3x3 'same' convolutions and 2x2 pools on a (B, 3, 224, 224) batch, then flatten and FC"""
        rng = nb.rng(10)
        c1, c2, c3 = (int(c) for c in rng.choice([8, 16, 32, 64], size=3))
        spec = [("conv", c1, 3, 1, 1), ("pool", 2, 2), ("conv", c2, 3, 1, 1), ("pool", 2, 2),
                ("conv", c3, 3, 1, 1), ("pool", 2, 2), ("flatten",), ("fc", int(rng.integers(32, 257))),
                ("fc", 10)]
        nb.expect("cnn_output_shapes", spec, (int(rng.integers(1, 9)), 3, 224, 224))

    @pytest.mark.points(2)
    def test_pool_windows_that_do_not_fit(self, nb):
        """pools whose windows do not tile the map: 3x3 stride 2 on even sizes, 2x2 on odd"""
        rng = nb.rng(11)
        h = 2 * int(rng.integers(8, 20))          # even: a 3x3 window with stride 2 loses one
        w = 2 * int(rng.integers(8, 20)) + 1      # odd: a 2x2 window with stride 2 drops the last
        spec = [("conv", int(rng.integers(4, 17)), 3, 1, 0), ("pool", 3, 2), ("pool", 2, 2),
                ("flatten",), ("fc", int(rng.integers(2, 11)))]
        nb.expect("cnn_output_shapes", spec, (2, 3, h + 2, w + 2))
        nb.expect("cnn_output_shapes", [("pool", 3, 3), ("flatten",), ("fc", 5)],
                  (1, int(rng.integers(2, 5)), 3 * int(rng.integers(3, 9)) + 1, 3 * int(rng.integers(3, 9))))

    @pytest.mark.points(2)
    def test_flatten_keeps_channels_and_batch(self, nb):
        """flatten gives (B, C*H*W) and keeps the batch axis"""
        rng = nb.rng(12)
        spec = [("conv", int(rng.integers(3, 13)), 5, 1, 2), ("pool", 2, 2), ("flatten",),
                ("fc", int(rng.integers(5, 50)))]
        nb.expect("cnn_output_shapes", spec, (int(rng.integers(2, 6)), int(rng.integers(1, 4)),
                                              2 * int(rng.integers(4, 12)), 2 * int(rng.integers(4, 12))))

    @pytest.mark.points(1)
    def test_stride_and_padding(self, nb):
        """a ResNet-style stem: 7x7 stride 2 padding 3, then a 3x3 stride-2 pool"""
        rng = nb.rng(13)
        spec = [("conv", int(rng.choice([32, 64])), 7, 2, 3), ("pool", 3, 2),
                ("conv", int(rng.choice([64, 128])), 3, 2, 1), ("flatten",), ("fc", 1000)]
        nb.expect("cnn_output_shapes", spec, (1, 3, 224 + 2 * int(rng.integers(0, 8)), 224))


# ---- count_parameters -----------------------------------------------------------------------------

def check_count(nb, model, width):
    params = dict(model=model, seed=nb.seed(60), width=width)
    call = f"count_parameters(model) on {MODEL_TEXT[model]}"
    got = nb.run("count_parameters", "count_parameters_trace", params)
    fail_on(nb, model_state_problem(got, call))
    want = nb.trace("count_parameters_trace", params, "count_parameters")["value"]
    problem = mismatch(got["value"], want)
    if problem:
        label = nb.match_variant(got["value"], nb.variant_traces("count_parameters_trace", params,
                                                                 "count_parameters"),
                                 lambda g, v: mismatch(g, v["value"]) is None)
        if got["value"] is None:
            label = "wrong-type"
            problem = ("wrong-type", f"returned a {got['returned_type']}, expected an int")
        raise nb.fail(label or problem[0], f"{call}: {problem[1]}.")


@pytest.mark.grades("count_parameters")
class TestCountParameters:
    @pytest.mark.points(1)
    def test_all_trainable(self, nb):
        """a CNN with batch norm, every parameter trainable"""
        check_count(nb, "plain_cnn", int(nb.rng(20).choice([4, 8, 12])))

    @pytest.mark.points(1)
    def test_frozen_layer(self, nb):
        """an MLP whose first layer is frozen"""
        check_count(nb, "frozen_mlp", int(nb.rng(21).integers(3, 9)))

    @pytest.mark.points(1)
    def test_frozen_layers_and_buffers(self, nb):
        """a CNN with a frozen conv and batch norm: neither frozen weights nor buffers count"""
        check_count(nb, "frozen_bn", int(nb.rng(22).choice([4, 8, 12])))

    @pytest.mark.points(1)
    def test_shared_weight_counted_once(self, nb):
        """a weight shared by two layers counts once"""
        check_count(nb, "tied", int(nb.rng(23).integers(4, 9)))
