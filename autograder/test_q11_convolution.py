"""Checks for q11_convolution. Inputs come from nb.rng (public and hidden runs); the expected
values and the mistakes' results come from the oracle.

The inputs keep, in every run, the properties that tell the classic mistakes apart: sizes that a
stride does not divide (flooring), paddings of 2 or more (one-sided padding is then not a missing
+1), random kernels (never symmetric, so a flipped kernel shows), several input channels and a
bias far from zero. The exercise is NumPy only: every call is made with the torch entry points of
FORBIDDEN watched.
"""
import numpy as np
import pytest

from autograder.labels.q11_convolution import FORBIDDEN


def expect(nb, function, *args, **kwargs):
    return nb.expect(function, *args, forbidden=FORBIDDEN[function], **kwargs)


def normal(nb, k, *shape):
    return nb.rng(k).normal(size=shape)


def bias(nb, k, f):
    """A bias well away from zero, so that forgetting it is visible."""
    return nb.rng(k).uniform(1.0, 3.0, size=f) * np.where(np.arange(f) % 2, -1, 1)


def ints(nb, k, low, high, size=None):
    """Python ints in [low, high) (a list when `size` is given)."""
    drawn = nb.rng(k).integers(low, high, size=size)
    return int(drawn) if size is None else [int(v) for v in drawn]


def uneven(nb, k, span, stride, padding=0):
    """An input length whose padded length minus the kernel's span a stride > 1 does not divide."""
    steps, rest = ints(nb, k, padding + 1, padding + 7), ints(nb, k + 1000, 1, stride)
    return span - 2 * padding + stride * steps + rest


# ---- conv_output_size ---------------------------------------------------------------------------

@pytest.mark.grades("conv_output_size")
class TestConvOutputSize:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """stride 1, no padding: 3- and 5-tap kernels"""
        expect(nb, "conv_output_size", ints(nb, 0, 5, 30), 3)
        expect(nb, "conv_output_size", ints(nb, 1, 8, 64), 5)

    @pytest.mark.points(3)
    def test_stride_rounds_down(self, nb):
        """strides 2 and 3 that do not divide the input: the last partial window is dropped"""
        expect(nb, "conv_output_size", uneven(nb, 2, 3, 2), 3, stride=2)
        expect(nb, "conv_output_size", uneven(nb, 3, 4, 3), 4, stride=3)
        expect(nb, "conv_output_size", uneven(nb, 4, 5, 2), 5, stride=2)

    @pytest.mark.points(1)
    def test_padding(self, nb):
        """padding of 2 to 4 (on both sides), with and without a stride"""
        expect(nb, "conv_output_size", ints(nb, 5, 4, 20), 3, padding=2)
        expect(nb, "conv_output_size", uneven(nb, 6, 3, 2, padding=3), 3, stride=2, padding=3)
        expect(nb, "conv_output_size", ints(nb, 7, 6, 30), 5, stride=1, padding=4)

    @pytest.mark.points(1)
    def test_dilation(self, nb):
        """dilation 2 and 3: the kernel's taps spread out"""
        expect(nb, "conv_output_size", ints(nb, 8, 9, 30), 3, dilation=3)
        expect(nb, "conv_output_size", ints(nb, 9, 16, 64), 3, stride=1, padding=3, dilation=3)
        expect(nb, "conv_output_size", ints(nb, 10, 12, 40), 5, dilation=2)


# ---- conv2d -------------------------------------------------------------------------------------

@pytest.mark.grades("conv2d")
class TestConv2d:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """2 images of 3 channels, 4 filters of 3x3, with a bias"""
        expect(nb, "conv2d", normal(nb, 0, 2, 3, 6, 6), normal(nb, 1, 4, 3, 3, 3), bias(nb, 2, 4))

    @pytest.mark.points(1)
    def test_kernel_orientation(self, nb):
        """one channel, stride 1: only the orientation of the kernel matters here"""
        expect(nb, "conv2d", normal(nb, 3, 1, 1, 5, 5) + np.arange(25.0).reshape(1, 1, 5, 5) / 5,
               normal(nb, 4, 1, 1, 3, 3))

    @pytest.mark.points(1)
    def test_input_channels(self, nb):
        """4 input channels, no bias"""
        expect(nb, "conv2d", normal(nb, 5, 2, 4, 5, 5), normal(nb, 6, 2, 4, 3, 3))

    @pytest.mark.points(1)
    def test_bias_given(self, nb):
        """a bias of shape (F,) is added to every position of its filter's map"""
        expect(nb, "conv2d", normal(nb, 7, 2, 1, 5, 5), normal(nb, 8, 3, 1, 2, 2), bias(nb, 9, 3))

    @pytest.mark.points(1)
    def test_bias_none(self, nb):
        """b=None: no bias"""
        expect(nb, "conv2d", normal(nb, 10, 1, 2, 4, 4), normal(nb, 11, 2, 2, 3, 3), None)

    @pytest.mark.points(2)
    def test_stride_two(self, nb):
        """stride 2 on 7x7 and 8x8 inputs"""
        expect(nb, "conv2d", normal(nb, 12, 2, 2, 7, 7), normal(nb, 13, 3, 2, 3, 3), bias(nb, 14, 3),
               stride=2)
        expect(nb, "conv2d", normal(nb, 15, 1, 3, 8, 8), normal(nb, 16, 2, 3, 3, 3), stride=2)

    @pytest.mark.points(1)
    def test_padding(self, nb):
        """zero padding of 1 and 2 on all four sides"""
        expect(nb, "conv2d", normal(nb, 17, 2, 2, 5, 5), normal(nb, 18, 3, 2, 3, 3), bias(nb, 19, 3),
               padding=1)
        expect(nb, "conv2d", normal(nb, 20, 1, 1, 4, 4), normal(nb, 21, 2, 1, 3, 3), padding=2)

    @pytest.mark.points(1)
    def test_non_square(self, nb):
        """non-square inputs and kernels with a stride and a padding"""
        expect(nb, "conv2d", normal(nb, 22, 2, 3, 7, 9), normal(nb, 23, 2, 3, 2, 3), bias(nb, 24, 2),
               stride=2, padding=1)
        expect(nb, "conv2d", normal(nb, 25, 1, 2, 6, 5), normal(nb, 26, 4, 2, 3, 1), stride=3,
               padding=2)

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """one image, one filter"""
        expect(nb, "conv2d", normal(nb, 27, 1, 3, 5, 5), normal(nb, 28, 1, 3, 3, 3), bias(nb, 29, 1))


# ---- max_pool2d ---------------------------------------------------------------------------------

@pytest.mark.grades("max_pool2d")
class TestMaxPool2d:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """2x2 windows, stride 2, on mostly negative values"""
        # A running maximum that starts at 0 shows up on negative inputs.
        expect(nb, "max_pool2d", normal(nb, 30, 2, 3, 6, 6) - 1.0, 2, 2)

    @pytest.mark.points(1)
    def test_overlapping_windows(self, nb):
        """3x3 windows with stride 1 overlap"""
        expect(nb, "max_pool2d", normal(nb, 31, 2, 2, 5, 5), 3, 1)

    @pytest.mark.points(1)
    def test_odd_size_drops_partial_windows(self, nb):
        """odd sizes: a window that would run past the border is dropped"""
        expect(nb, "max_pool2d", normal(nb, 32, 1, 2, 7, 7), 2, 2)
        expect(nb, "max_pool2d", normal(nb, 33, 2, 1, 9, 9), 3, 2)

    @pytest.mark.points(1)
    def test_non_square_input(self, nb):
        """an 8x5 input"""
        expect(nb, "max_pool2d", normal(nb, 34, 2, 3, 8, 5), 3, 2)

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """one image, all values negative"""
        expect(nb, "max_pool2d", normal(nb, 35, 1, 1, 4, 6) - 4.0, 2, 2)


# ---- parameter counts ---------------------------------------------------------------------------

@pytest.mark.grades("conv_param_count")
class TestConvParamCount:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """3x3 and 5x5 kernels with a bias"""
        expect(nb, "conv_param_count", ints(nb, 40, 2, 16), ints(nb, 41, 8, 128), 3)
        expect(nb, "conv_param_count", ints(nb, 42, 16, 256), ints(nb, 43, 16, 256), 5)

    @pytest.mark.points(1)
    def test_bias_flag(self, nb):
        """bias=True and bias=False"""
        expect(nb, "conv_param_count", ints(nb, 44, 4, 64), ints(nb, 45, 4, 64), 3, bias=True)
        expect(nb, "conv_param_count", ints(nb, 46, 64, 1024), ints(nb, 47, 64, 1024), 3, bias=False)

    @pytest.mark.points(1)
    def test_one_by_one_kernel(self, nb):
        """a 1x1 convolution mixes channels only"""
        expect(nb, "conv_param_count", ints(nb, 48, 32, 512), ints(nb, 49, 8, 128), 1)


@pytest.mark.grades("dense_param_count")
class TestDenseParamCount:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        """with a bias"""
        expect(nb, "dense_param_count", ints(nb, 50, 100, 5000), ints(nb, 51, 2, 20))
        expect(nb, "dense_param_count", ints(nb, 52, 2, 10), ints(nb, 53, 2, 10), bias=True)

    @pytest.mark.points(1)
    def test_without_bias(self, nb):
        """bias=False"""
        expect(nb, "dense_param_count", ints(nb, 54, 1000, 10000), ints(nb, 55, 100, 2000), bias=False)


# ---- receptive field ----------------------------------------------------------------------------

def stack(nb, k, strides, low=2, high=8):
    """(kernel, stride) pairs with random kernels of `low`..`high - 1` taps."""
    return [(kernel, s) for kernel, s in zip(ints(nb, k, low, high, size=len(strides)), strides)]


@pytest.mark.grades("receptive_field")
class TestReceptiveField:
    @pytest.mark.points(1)
    def test_stride_one_stack(self, nb):
        """three stride-1 layers; one layer with a stride"""
        expect(nb, "receptive_field", stack(nb, 60, [1, 1, 1]))
        expect(nb, "receptive_field", [(ints(nb, 61, 3, 12), 2)])

    @pytest.mark.points(3)
    def test_strides_multiply(self, nb):
        """stacks with strides of 2 and 3 before their last layer"""
        expect(nb, "receptive_field", stack(nb, 62, [2, 2, 1], low=3))
        expect(nb, "receptive_field", stack(nb, 63, [1, 2, 1, 2, 1]))
        expect(nb, "receptive_field", stack(nb, 64, [3, 2, 2, 1], low=2, high=6))

    @pytest.mark.points(1)
    def test_deep_stack(self, nb):
        """eight layers with AlexNet's strides (4, 2, 1, 2, 1, 1, 1, 2)"""
        expect(nb, "receptive_field", stack(nb, 65, [4, 2, 1, 2, 1, 1, 1, 2], low=3, high=12))
