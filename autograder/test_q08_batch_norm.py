"""Checks for q08_batch_norm.

batchnorm_forward and batchnorm_backward are compared with the oracle, whose references are
PyTorch itself: torch.nn.functional.batch_norm (training and evaluation, 2-D and 4-D inputs, the
running statistics included) and autograd through it. On a mismatch the pitfall variants name the
mistake; the 4-D checks compare the output alone first (where a statistic taken over the wrong axes
shows), then the running statistics. fold_batchnorm is compared on its weights and bias, and through
a harness that runs the folded conv on a batch of images against the original conv followed by
eval-mode batch norm (computed by PyTorch in the oracle's trace). Inputs come from nb.rng, so the
hidden run varies them; every channel gets its own mean and scale, so statistics mixed across
channels or positions show.
"""
import numpy as np
import pytest

from whiteboard.grading.checks import CheckFailed
from whiteboard.grading.compare import mismatch, show


# ---- inputs ----------------------------------------------------------------------------------------

def batch(rng, shape):
    """x of `shape` whose channels (axis 1) have clearly different means and spreads, and whose
    positions (axes 2, 3) differ too, so that every wrong reduction gives other numbers."""
    c = shape[1]
    per_channel = (1, c) + (1,) * (len(shape) - 2)
    loc = rng.normal(scale=3.0, size=per_channel)
    scale = rng.uniform(0.5, 3.0, size=per_channel)
    x = loc + scale * rng.normal(size=shape)
    if len(shape) == 4:
        x = x + rng.normal(scale=0.5, size=(1, 1) + tuple(shape[2:]))
    return x


def bn_params(rng, c):
    """gamma, beta, running_mean, running_var: running statistics far from the batch's."""
    return (rng.uniform(0.5, 2.0, c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 3.0, c))


def bn_args(nb, k, shape):
    rng = nb.rng(k)
    x = batch(rng, shape)
    return (x, *bn_params(rng, shape[1]))


def output_only(result):
    return result[0]


def expect_forward(nb, args, training, **kwargs):
    """The output first (the statistics it was normalised with), then the running statistics."""
    nb.expect("batchnorm_forward", *args, training, output=output_only, **kwargs)
    return nb.expect("batchnorm_forward", *args, training, **kwargs)


# ---- batchnorm_forward ------------------------------------------------------------------------------

@pytest.mark.grades("batchnorm_forward")
class TestBatchnormForward:
    @pytest.mark.points(3)
    def test_training_2d(self, nb):
        """training, (N, C) batch: output and running statistics as F.batch_norm"""
        expect_forward(nb, bn_args(nb, 0, (8, 4)), True)

    @pytest.mark.points(3)
    def test_training_4d(self, nb):
        """training, (N, C, H, W) images: one mean and variance per channel, over N, H and W"""
        expect_forward(nb, bn_args(nb, 1, (4, 3, 5, 5)), True)

    @pytest.mark.points(2)
    def test_running_variance_of_a_small_batch(self, nb):
        """a batch of 4: the running variance gets the unbiased batch variance"""
        expect_forward(nb, bn_args(nb, 2, (4, 5)), True)

    @pytest.mark.points(2)
    def test_momentum(self, nb):
        """momentum other than 0.1: the weight of the new batch in the running statistics"""
        momentum = round(float(nb.rng(3).uniform(0.2, 0.4)), 3)
        expect_forward(nb, bn_args(nb, 3, (6, 3)), True, momentum=momentum)
        expect_forward(nb, bn_args(nb, 4, (2, 2, 3, 3)), True, momentum=momentum, eps=1e-3)

    @pytest.mark.points(3)
    def test_eval_uses_running_statistics(self, nb):
        """evaluation, 2-D and 4-D: running statistics used and returned unchanged"""
        expect_forward(nb, bn_args(nb, 5, (6, 4)), False)
        expect_forward(nb, bn_args(nb, 6, (3, 2, 4, 4)), False)

    @pytest.mark.points(1)
    def test_eval_batch_of_one(self, nb):
        """evaluation on a batch of one example"""
        try:
            expect_forward(nb, bn_args(nb, 7, (1, 5)), False)
        except CheckFailed as failed:
            if failed.label == "crash" and "more than 1 value per channel" in failed.message:
                raise nb.fail("batch-stats-in-eval", "batchnorm_forward(x, ..., training=False) on "
                              "a batch x of shape (1, 5) raised PyTorch's \"Expected more than 1 "
                              "value per channel when training\": it computed the statistics of "
                              "the batch although training is False.") from None
            raise


# ---- batchnorm_backward ----------------------------------------------------------------------------

def backward_args(nb, k, n, c):
    rng = nb.rng(k)
    return rng.normal(size=(n, c)), batch(rng, (n, c)), rng.uniform(0.5, 2.0, c)


@pytest.mark.grades("batchnorm_backward")
class TestBatchnormBackward:
    @pytest.mark.points(3)
    def test_equals_autograd(self, nb):
        """dx, dgamma, dbeta of a (16, 4) batch as autograd through F.batch_norm"""
        nb.expect("batchnorm_backward", *backward_args(nb, 10, 16, 4))

    @pytest.mark.points(2)
    def test_same_gradient_for_every_example(self, nb):
        """an upstream gradient shared by the whole batch moves no input: dx = 0"""
        dout, x, gamma = backward_args(nb, 11, 6, 3)
        dout = np.repeat(nb.rng(12).normal(size=(1, 3)), 6, axis=0)
        nb.expect("batchnorm_backward", dout, x, gamma)

    @pytest.mark.points(2)
    def test_small_batch(self, nb):
        """a batch of 3, where each example weighs on the statistics"""
        nb.expect("batchnorm_backward", *backward_args(nb, 13, 3, 5), eps=1e-3)


# ---- fold_batchnorm ---------------------------------------------------------------------------------

def fold_args(nb, k, c_out=4, c_in=3, bias=True):
    rng = nb.rng(k)
    weight = rng.normal(size=(c_out, c_in, 3, 3))
    conv_bias = rng.normal(size=c_out) if bias else np.zeros(c_out)
    return (weight, conv_bias, rng.uniform(0.5, 2.0, c_out), rng.normal(size=c_out),
            rng.normal(scale=2.0, size=c_out), rng.uniform(0.2, 3.0, c_out))


@pytest.mark.grades("fold_batchnorm")
class TestFoldBatchnorm:
    @pytest.mark.points(2)
    def test_weight_and_bias(self, nb):
        """the folded weight and bias of a 3x3 conv with 4 output channels"""
        nb.expect("fold_batchnorm", *fold_args(nb, 20))

    @pytest.mark.points(3)
    def test_folded_conv_equals_conv_then_bn(self, nb):
        """the folded conv on a batch of images equals conv followed by eval-mode BN"""
        args = fold_args(nb, 21, c_out=5, c_in=2)
        x = nb.rng(22).normal(size=(2, 2, 6, 6))
        params = dict(zip(("conv_weight", "conv_bias", "gamma", "beta", "running_mean",
                           "running_var"), args), x=x)
        called = ("fold_batchnorm on a 3x3 conv (5 output channels), then conv2d(x, weight, bias, "
                  "padding=1) on a batch x of shape (2, 2, 6, 6)")
        got = nb.run("fold_batchnorm", "folded_conv_trace", params)
        if got["inputs_modified"]:
            raise nb.fail("mutates-input", f"{called}: fold_batchnorm changed one of its arguments "
                          "in place. Build new arrays for the folded weight and bias.")
        want = nb.trace("folded_conv_trace", params, "fold_batchnorm")["conv_then_bn"]
        if got["folded"] is None:
            raise nb.fail("wrong-shape", f"{called}: the returned (weight, bias) could not be used "
                          f"as a conv's weight and bias ({got['error']}); shapes "
                          f"{got['weight_shape']} and {got['bias_shape']}, expected "
                          f"{list(args[0].shape)} and [{args[0].shape[0]}].")
        problem = mismatch(got["folded"], want)
        if problem is None:
            return

        def same(g, v):
            return v["folded"] is not None and mismatch(g["folded"], v["folded"]) is None

        label = nb.match_variant(got, nb.variant_traces("folded_conv_trace", params,
                                                        "fold_batchnorm"), same)
        raise nb.fail(label or problem[0], f"{called}\n  conv then eval-mode BN: "
                      f"{show(want)}\n  your folded conv:       {show(got['folded'])}\n"
                      f"  ({problem[1]})")

    @pytest.mark.points(1)
    def test_conv_without_bias(self, nb):
        """a conv built with bias=False (its bias is all zeros) still gets a bias"""
        nb.expect("fold_batchnorm", *fold_args(nb, 23, c_out=3, c_in=2, bias=False), eps=1e-3)
