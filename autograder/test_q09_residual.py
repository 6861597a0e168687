"""Checks for q09_residual. Inputs come from nb.rng / nb.seed (public and hidden runs); the expected
traces and the mistakes' traces come from the oracle.

Everything here needs objects, so every check runs a harness of autograder/harnesses/q09_residual.py
in the worker. BasicBlock and Bottleneck: the harness builds the student's block, loads a
torchvision-style state dict drawn from the check's seed (submodule names of the catalogue, BN
running statistics included), runs it in float64 on the check's input and reports the load, the
output, whether the input changed, the running statistics (train mode) and the gradients. The
expected trace is the same harness on the reference block, which equals torchvision's (tests/
test_references_q09_residual.py); a wrong output is named by the first pitfall variant (a class
with the mistake, swapped in for the reference) whose trace agrees, or by a detector on the load.
layer_gradient_norms runs on seeded models whose parameters already hold stale gradients, one of
them defined in another order than it is called and one calling a layer twice; make_mlp is built
and its Linear layers are given the check's weights in call order, so that equal structure means
equal output.
"""
import numpy as np
import pytest

from whiteboard.grading.compare import as_numpy, mismatch, show


def close(got, want):
    """Both tensors present, of one shape, equal to float64 precision (1e-9 relative)."""
    return got is not None and want is not None and \
        mismatch(got, want, rtol=1e-9, atol=1e-10) is None


def keys(names, limit=6):
    names = list(names)
    shown = ", ".join(names[:limit]) + (f", ... ({len(names)} in all)" if len(names) > limit else "")
    return shown or "none"


# ---- BasicBlock / Bottleneck ----------------------------------------------------------------------------

EXPANSION = {"BasicBlock": 1, "Bottleneck": 4}


def in_place_error(error):
    """The error autograd raises when a block adds into its input that requires grad."""
    return bool(error) and "in-place" in error and ("leaf" in error or "modified by an inplace" in error)


def block_problem(got, want, made):
    """What is wrong with the block's trace, as text for the message."""
    load = got["load"]
    if not load["strict_ok"]:
        lines = [f"loading a torchvision-style state dict into {made} failed:"]
        if load["missing"]:
            lines.append(f"  in your block, not in the state dict: {keys(load['missing'])}")
        if load["unexpected"]:
            lines.append(f"  in the state dict, not in your block: {keys(load['unexpected'])}")
        if load["mismatched"]:
            lines.append(f"  of another shape in your block: {keys(load['mismatched'])}")
        return "\n".join(lines)
    if got["error"]:
        return f"forward raised {got['error']}"
    problem = mismatch(got["out"], want["out"], rtol=1e-9, atol=1e-10)
    where = ""
    try:
        g, w = as_numpy(got["out"]), as_numpy(want["out"])
        n, c = np.unravel_index(np.argmax(np.nan_to_num(np.abs(g - w), nan=np.inf)), g.shape)[:2]
        where = (f"\n  in example {n}, channel {c}:\n  expected: {show(w[n, c])}\n"
                 f"  got:      {show(g[n, c])}")
    except Exception:  # noqa: BLE001 - another shape: the sizes say it all
        where = f"\n  expected: {show(want['out'])}\n  got:      {show(got['out'])}"
    return (f"the output differs from a torchvision block's with the same weights ({problem[1]})"
            f"{where}")


def check_block(nb, block, args, k, mode="eval", grad=False, hw=5, batch=2):
    c_in, c, stride = args
    params = dict(block=block, args=list(args), state_dict=nb.seed(k),
                  x=nb.rng(k).normal(size=(batch, c_in, hw, hw)), mode=mode, grad=grad,
                  seed=nb.seed(k))
    made = f"{block}({c_in}, {c}, stride={stride})"
    desc = (f"{made} (output channels {EXPANSION[block] * c}), with a torchvision-style state dict "
            f"loaded, in {mode} mode, on x of shape {(batch, c_in, hw, hw)}")
    got = nb.run(block, "block_trace", params)
    if not got["is_module"]:
        raise nb.fail("wrong-type", f"{made} gave a {got['type']}; expected an nn.Module.")
    want = nb.trace("block_trace", params, block)
    if got["load"]["strict_ok"] and got["error"] is None and close(got["out"], want["out"]):
        if got["input_modified"]:
            raise nb.fail("inplace-on-input", f"{desc}: the output is right, but after the call the "
                          "tensor x passed to forward had changed.")
        if mode == "train":
            problem = mismatch(got["buffers_after"], want["buffers_after"], rtol=1e-9, atol=1e-10)
            if problem:
                raise nb.fail("wrong-value", f"{desc}: after one training-mode pass the BatchNorm "
                              f"running statistics differ ({problem[1]}); use nn.BatchNorm2d with "
                              "its default momentum, once per BN in the forward pass.")
        if grad:
            check_block_gradients(nb, desc, got, want)
        return
    if in_place_error(got["error"]):
        raise nb.fail("inplace-on-input", f"{desc}, x requiring grad: forward raised "
                      f"{got['error']}")
    same = lambda g, v: g["load"]["strict_ok"] == v["load"]["strict_ok"] and close(g["out"], v["out"])  # noqa: E731
    label = nb.match_variant(got, nb.variant_traces("block_trace", params, block), same) \
        or nb.detect(block, got)
    if label is None:
        if not got["load"]["strict_ok"]:
            label = "wrong-shape" if got["load"]["mismatched"] else "wrong-value"
        elif got["error"]:
            label = "crash"
        else:
            label = (mismatch(got["out"], want["out"], rtol=1e-9, atol=1e-10) or ("wrong-type",))[0]
    raise nb.fail(label, f"{desc}: {block_problem(got, want, made)}")


def check_block_gradients(nb, desc, got, want):
    if got.get("backward_error"):
        label = "inplace-on-input" if in_place_error(got["backward_error"]) else "crash"
        raise nb.fail(label, f"{desc}: backward through the block raised {got['backward_error']}")
    problem = mismatch(got.get("x_grad"), want["x_grad"], rtol=1e-8, atol=1e-10)
    if problem:
        raise nb.fail("wrong-value", f"{desc}: the gradient of sum(out * r) with respect to x "
                      f"differs from a torchvision block's ({problem[1]}): is part of the "
                      "computation detached from the graph?")
    problem = mismatch(got.get("grads"), want["grads"], rtol=1e-8, atol=1e-10)
    if problem:
        raise nb.fail("wrong-value", f"{desc}: the parameters' gradients differ from a "
                      f"torchvision block's ({problem[1]}).")


@pytest.mark.grades("BasicBlock")
class TestBasicBlock:
    @pytest.mark.points(3)
    def test_identity_shortcut(self, nb):
        """stride 1, 4 -> 4 channels: the input itself is the shortcut"""
        check_block(nb, "BasicBlock", (4, 4, 1), 0)

    @pytest.mark.points(2)
    def test_projection_on_channel_change(self, nb):
        """stride 1, 3 -> 6 channels: a 1x1 projection on the shortcut"""
        check_block(nb, "BasicBlock", (3, 6, 1), 1)

    @pytest.mark.points(2)
    def test_stride_two(self, nb):
        """stride 2, with the same and with more channels: the shortcut is downsampled too"""
        check_block(nb, "BasicBlock", (4, 4, 2), 2)
        check_block(nb, "BasicBlock", (3, 6, 2), 3, hw=6)

    @pytest.mark.points(1)
    def test_train_mode(self, nb):
        """train mode: batch statistics, and the running statistics updated as torchvision's"""
        check_block(nb, "BasicBlock", (4, 4, 1), 4, mode="train", batch=3)
        check_block(nb, "BasicBlock", (3, 6, 2), 5, mode="train", batch=3)

    @pytest.mark.points(1)
    def test_backward(self, nb):
        """gradients reach x and every weight, with x requiring grad"""
        check_block(nb, "BasicBlock", (4, 4, 1), 6, mode="train", grad=True)
        check_block(nb, "BasicBlock", (2, 4, 2), 7, grad=True)


@pytest.mark.grades("Bottleneck")
class TestBottleneck:
    @pytest.mark.points(2)
    def test_identity_shortcut(self, nb):
        """stride 1, 8 -> 2 -> 8 channels: the input itself is the shortcut"""
        check_block(nb, "Bottleneck", (8, 2, 1), 10)

    @pytest.mark.points(3)
    def test_stride_two(self, nb):
        """stride 2: the 3x3 conv strides, the shortcut is downsampled too"""
        check_block(nb, "Bottleneck", (8, 2, 2), 11)
        check_block(nb, "Bottleneck", (4, 2, 2), 12, hw=6)

    @pytest.mark.points(1)
    def test_projection_on_channel_change(self, nb):
        """stride 1, 6 -> 2 -> 8 channels: a 1x1 projection on the shortcut"""
        check_block(nb, "Bottleneck", (6, 2, 1), 13)

    @pytest.mark.points(1)
    def test_train_mode_and_backward(self, nb):
        """train mode and a backward pass, with x requiring grad"""
        check_block(nb, "Bottleneck", (8, 2, 1), 14, mode="train", grad=True, batch=3)
        check_block(nb, "Bottleneck", (4, 2, 2), 15, mode="train", grad=True, batch=3)


# ---- layer_gradient_norms ------------------------------------------------------------------------------

GRAD_MODELS = {
    "mlp": "an MLP Linear(6, 16) -> Tanh -> Linear(16, 16) -> Tanh -> Linear(16, 3)",
    "cnn": "a CNN Conv2d(1, 4, 3, padding=1) -> ReLU -> Conv2d(4, 4, 3) -> ReLU -> Flatten -> "
           "Linear(64, 3)",
    "reordered": "a model whose layers are defined as head, norm, second, first but called "
                 "first -> second -> norm -> head",
    "shared": "a model that calls one Linear twice: inp -> mid -> mid -> out",
}


def check_norms(nb, model, k, loss="cross_entropy", batch=8):
    params = dict(model=model, seed=nb.seed(k), batch=batch, stale=True, loss=loss)
    desc = (f"layer_gradient_norms on {GRAD_MODELS[model]}, every parameter already holding a "
            f"stale gradient of 0.5s, {loss} loss, a batch of {batch}")
    got = nb.run("layer_gradient_norms", "gradient_norms_trace", params)
    if got["norms"] is None:
        raise nb.fail("wrong-type", f"{desc}: returned a {got['type']}; expected a list of floats, "
                      "one per layer.")
    if got["weights_changed"]:
        raise nb.fail("wrong-value", f"{desc}: the model's weights changed; measuring gradients "
                      "must not take an optimizer step.")
    want = nb.trace("gradient_norms_trace", params, "layer_gradient_norms")
    order = " -> ".join(want["layers_called"])
    same = lambda g, v: mismatch(g["norms"], v["norms"], rtol=1e-6, atol=1e-9) is None  # noqa: E731
    problem = mismatch(got["norms"], want["norms"], rtol=1e-6, atol=1e-9)
    if problem:
        label = nb.match_variant(got, nb.variant_traces("gradient_norms_trace", params,
                                                        "layer_gradient_norms"), same)
        if len(got["norms"]) != len(want["norms"]):
            raise nb.fail(label or "wrong-layer-count", f"{desc}: returned {len(got['norms'])} norms, "
                          f"expected {len(want['norms'])}: one per nn.Linear / nn.Conv*d module, "
                          f"in the order of its first call ({order}), a module called twice "
                          "listed once.")
        raise nb.fail(label or problem[0], f"{desc}: returned {show(got['norms'])}, expected "
                      f"{show(want['norms'])} for the layers {order} ({problem[1]}).")
    if got["hooks_left"]:
        raise nb.fail("hooks-left-behind", f"{desc}: the norms are right, but {got['hooks_left']} "
                      "hook(s) were left registered, so every later forward or backward pass of "
                      "the model still runs them.")


@pytest.mark.grades("layer_gradient_norms")
class TestLayerGradientNorms:
    @pytest.mark.points(2)
    def test_clears_stale_gradients(self, nb):
        """an MLP whose parameters hold a previous step's gradients"""
        check_norms(nb, "mlp", 0)

    @pytest.mark.points(2)
    def test_order_of_first_call(self, nb):
        """layers defined in another order than the forward pass calls them"""
        check_norms(nb, "reordered", 1)

    @pytest.mark.points(1)
    def test_conv_layers(self, nb):
        """a CNN: Conv2d weights count too; an MSE loss"""
        check_norms(nb, "cnn", 2, loss="mse", batch=4)

    @pytest.mark.points(1)
    def test_layer_called_twice(self, nb):
        """a Linear called twice is listed once, with the gradient of both uses"""
        check_norms(nb, "shared", 3)


# ---- make_mlp --------------------------------------------------------------------------------------------

def check_mlp(nb, k, residual):
    rng = nb.rng(k)
    depth, width = int(rng.integers(3, 7)), int(rng.integers(4, 9))
    params = dict(depth=depth, width=width, residual=residual, seed=nb.seed(k), batch=4)
    made = f"make_mlp({depth}, {width}, residual={residual})"
    got = nb.run("make_mlp", "mlp_trace", params)
    if not got["is_module"]:
        raise nb.fail("wrong-type", f"{made} returned a {got['type']}; expected an nn.Module.")
    want = nb.trace("mlp_trace", params, "make_mlp")
    if got["linear_layers"] != want["linear_layers"] or got["linear_calls"] != want["linear_calls"]:
        layers = ", ".join(f"Linear({i}, {o}{'' if b else ', bias=False'})"
                           for o, i, b in got["linear_layers"]) or "none"
        raise nb.fail("wrong-mlp-structure", f"{made}: one forward pass made "
                      f"{got['linear_calls']} calls to {len(got['linear_layers'])} distinct "
                      f"nn.Linear module(s) ({layers}); expected {depth} distinct "
                      f"nn.Linear({width}, {width}) layers with bias, each called once.")
    if got["out"] is None:
        raise nb.fail("wrong-type", f"{made}: forward returned a {got['output_type']}; expected "
                      "a tensor.")
    if not close(got["out"], want["out"]):
        same = lambda g, v: close(g["out"], v["out"])  # noqa: E731
        label = nb.match_variant(got, nb.variant_traces("mlp_trace", params, "make_mlp"), same)
        problem = mismatch(got["out"], want["out"], rtol=1e-9, atol=1e-10) or ("wrong-type", "")
        raise nb.fail(label or problem[0], f"{made}: with the check's weights in its Linear layers "
                      f"(in the order they are called), the output on a batch of 4 differs:\n"
                      f"  expected: {show(want['out'])}\n  got:      {show(got['out'])}\n"
                      f"  ({problem[1]})")
    problem = mismatch(got.get("grad_norms"), want["grad_norms"], rtol=1e-8, atol=1e-12)
    if problem:
        raise nb.fail("wrong-value", f"{made}: the output is right, but the weight gradients of "
                      f"the layers of mean(out^2) differ ({problem[1]}): is part of the model "
                      "detached from the graph?")


@pytest.mark.grades("make_mlp")
class TestMakeMlp:
    @pytest.mark.points(2)
    def test_plain(self, nb):
        """residual=False: depth layers of Linear followed by ReLU"""
        check_mlp(nb, 0, residual=False)

    @pytest.mark.points(3)
    def test_residual(self, nb):
        """residual=True: every layer adds relu(linear(x)) to its input"""
        check_mlp(nb, 1, residual=True)
