"""Checks for q11_convolution. Inputs are seeded; expected values come from the references.

The inputs are chosen so that each classic mistake gives an answer different from the right one
and from every other mistake's answer (an odd size with stride 2 for flooring, a padding of 2 or
more so that one-sided padding is not confused with a missing +1, random kernels that are not
symmetric, several input channels, a bias that is far from zero).
"""
import numpy as np
import pytest

from autograder.references import q11_convolution as REFERENCES  # noqa: N812 - read by the plugin

ASSIGNMENT = "q11_convolution"

# The exercise is NumPy only: these torch entry points would do the work (or bring the data into
# torch to do it). Using one costs the check `forbidden-api`.
FORBIDDEN = (
    "torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.functional.conv_transpose2d",
    "torch.nn.functional.unfold", "torch.nn.functional.max_pool2d", "torch.max_pool2d",
    "torch.nn.functional.adaptive_max_pool2d", "torch.nn.Conv2d", "torch.nn.MaxPool2d",
    "torch.nn.Unfold", "torch.from_numpy", "torch.tensor", "torch.as_tensor", "torch.asarray",
)

CONV_NAMES = ("x", "w", "b")
POOL_NAMES = ("x", "kernel", "stride")


def normal(seed, *shape):
    return np.random.default_rng(seed).normal(size=shape)


def bias(seed, f):
    """A bias well away from zero, so that forgetting it is visible."""
    return np.random.default_rng(seed).uniform(1.0, 3.0, size=f) * np.where(np.arange(f) % 2, -1, 1)


def size(nb, *args, **kwargs):
    nb.expect("conv_output_size", *args, names=("n", "kernel"), **kwargs)


@pytest.mark.grades("conv_output_size")
class TestConvOutputSize:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        size(nb, 7, 3)
        size(nb, 28, 5)

    @pytest.mark.points(2)
    def test_stride_rounds_down(self, nb):
        size(nb, 8, 3, stride=2)
        size(nb, 11, 4, stride=3)
        size(nb, 9, 3, stride=2)

    @pytest.mark.points(1)
    def test_padding(self, nb):
        size(nb, 5, 3, padding=2)
        size(nb, 9, 3, stride=2, padding=3)
        size(nb, 13, 5, stride=1, padding=4)

    @pytest.mark.points(1)
    def test_dilation(self, nb):
        size(nb, 10, 3, dilation=3)
        size(nb, 32, 3, stride=1, padding=3, dilation=3)
        size(nb, 15, 5, dilation=3)


@pytest.mark.grades("conv2d")
class TestConv2d:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("conv2d", normal(0, 2, 3, 6, 6), normal(1, 4, 3, 3, 3), bias(2, 4),
                  names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_kernel_is_not_flipped(self, nb):
        # A single-channel, stride-1 case: only the orientation of the kernel matters here.
        x = np.arange(25, dtype=float).reshape(1, 1, 5, 5) ** 1.5
        w = np.array([[[[1.0, 2.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -3.0]]]])
        nb.expect("conv2d", x, w, names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_input_channels_are_summed(self, nb):
        nb.expect("conv2d", normal(3, 2, 4, 5, 5), normal(4, 2, 4, 3, 3), names=CONV_NAMES,
                  forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_bias_given(self, nb):
        nb.expect("conv2d", normal(5, 2, 1, 5, 5), normal(6, 3, 1, 2, 2), bias(7, 3),
                  names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_bias_none(self, nb):
        nb.expect("conv2d", normal(8, 1, 2, 4, 4), normal(9, 2, 2, 3, 3), None,
                  names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_stride_two(self, nb):
        nb.expect("conv2d", normal(10, 2, 2, 7, 7), normal(11, 3, 2, 3, 3), bias(12, 3), stride=2,
                  names=CONV_NAMES, forbidden=FORBIDDEN)
        nb.expect("conv2d", normal(13, 1, 3, 8, 8), normal(14, 2, 3, 3, 3), stride=2,
                  names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_padding(self, nb):
        nb.expect("conv2d", normal(15, 2, 2, 5, 5), normal(16, 3, 2, 3, 3), bias(17, 3), padding=1,
                  names=CONV_NAMES, forbidden=FORBIDDEN)
        nb.expect("conv2d", normal(18, 1, 1, 4, 4), normal(19, 2, 1, 3, 3), padding=2,
                  names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_non_square_kernel_stride_and_padding(self, nb):
        nb.expect("conv2d", normal(20, 2, 3, 7, 9), normal(21, 2, 3, 2, 3), bias(22, 2), stride=2,
                  padding=1, names=CONV_NAMES, forbidden=FORBIDDEN)
        nb.expect("conv2d", normal(23, 1, 2, 6, 5), normal(24, 4, 2, 3, 1), stride=3, padding=2,
                  names=CONV_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        nb.expect("conv2d", normal(25, 1, 3, 5, 5), normal(26, 1, 3, 3, 3), bias(27, 1),
                  names=CONV_NAMES, forbidden=FORBIDDEN)


@pytest.mark.grades("max_pool2d")
class TestMaxPool2d:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        # Every value is negative somewhere: a running maximum that starts at 0 shows up.
        nb.expect("max_pool2d", normal(30, 2, 3, 6, 6) - 1.0, 2, 2, names=POOL_NAMES,
                  forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_overlapping_windows(self, nb):
        nb.expect("max_pool2d", normal(31, 2, 2, 5, 5), 3, 1, names=POOL_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_odd_size_drops_partial_windows(self, nb):
        nb.expect("max_pool2d", normal(32, 1, 2, 7, 7), 2, 2, names=POOL_NAMES, forbidden=FORBIDDEN)
        nb.expect("max_pool2d", normal(33, 2, 1, 9, 9), 3, 2, names=POOL_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_non_square_input(self, nb):
        nb.expect("max_pool2d", normal(34, 2, 3, 8, 5), 3, 2, names=POOL_NAMES, forbidden=FORBIDDEN)

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        nb.expect("max_pool2d", normal(35, 1, 1, 4, 6) - 2.0, 2, 2, names=POOL_NAMES,
                  forbidden=FORBIDDEN)


PARAM_NAMES = ("in_channels", "out_channels", "kernel")
DENSE_NAMES = ("in_features", "out_features")


@pytest.mark.grades("conv_param_count")
class TestConvParamCount:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        nb.expect("conv_param_count", 3, 64, 3, names=PARAM_NAMES)
        nb.expect("conv_param_count", 64, 128, 5, names=PARAM_NAMES)

    @pytest.mark.points(1)
    def test_bias_flag(self, nb):
        nb.expect("conv_param_count", 16, 32, 3, bias=True, names=PARAM_NAMES)
        nb.expect("conv_param_count", 512, 512, 3, bias=False, names=PARAM_NAMES)

    @pytest.mark.points(1)
    def test_one_by_one_kernel(self, nb):
        nb.expect("conv_param_count", 256, 64, 1, names=PARAM_NAMES)


@pytest.mark.grades("dense_param_count")
class TestDenseParamCount:
    @pytest.mark.points(1)
    def test_matches_reference(self, nb):
        nb.expect("dense_param_count", 784, 10, names=DENSE_NAMES)
        nb.expect("dense_param_count", 3, 5, bias=True, names=DENSE_NAMES)

    @pytest.mark.points(1)
    def test_without_bias(self, nb):
        nb.expect("dense_param_count", 4096, 1000, bias=False, names=DENSE_NAMES)


@pytest.mark.grades("receptive_field")
class TestReceptiveField:
    @pytest.mark.points(1)
    def test_stride_one_stack(self, nb):
        nb.expect("receptive_field", [(3, 1), (3, 1), (3, 1)], names=("layers",))
        nb.expect("receptive_field", [(7, 2)], names=("layers",))

    @pytest.mark.points(2)
    def test_strides_multiply(self, nb):
        nb.expect("receptive_field", [(3, 2), (3, 2), (3, 1)], names=("layers",))
        nb.expect("receptive_field", [(3, 1), (2, 2), (3, 1), (2, 2), (3, 1)], names=("layers",))

    @pytest.mark.points(1)
    def test_alexnet_like_stack(self, nb):
        layers = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]
        nb.expect("receptive_field", layers, names=("layers",))
