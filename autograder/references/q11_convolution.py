"""q11 convolution: the reference implementations and the classic mistakes, as code.

Each reference function is what the student is asked to write (NumPy only). Each
`@PITFALLS.variant` below it is the same function written with one well-known mistake; when a
student's answer is wrong, the variant that reproduces it names the mistake.
"""
import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from autograder.labels.q11_convolution import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)

# A student's conv2d or max_pool2d that calls their own conv_output_size gets the reference instead.
STANDINS = ("conv_output_size",)

# FORBIDDEN lives with the labels, because the check module (which ships to students and must not
# import this file) passes it to every call: {function: the torch entry points it must not use}.


def _pair(v):
    if isinstance(v, (tuple, list)):
        return int(v[0]), int(v[1])
    return int(v), int(v)


# ---- conv_output_size ----------------------------------------------------------------------

def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@PITFALLS.variant("conv_output_size", "missing-plus-one")
def conv_output_size_no_plus_one(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride


@PITFALLS.variant("conv_output_size", "missing-plus-one")
def conv_output_size_no_plus_one_no_dilation(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - kernel) // stride


@PITFALLS.variant("conv_output_size", "not-floored")
def conv_output_size_true_division(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1


@PITFALLS.variant("conv_output_size", "not-floored")
def conv_output_size_ceil(n, kernel, stride=1, padding=0, dilation=1):
    return math.ceil((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


@PITFALLS.variant("conv_output_size", "not-floored")
def conv_output_size_rounded(n, kernel, stride=1, padding=0, dilation=1):
    return round((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1


@PITFALLS.variant("conv_output_size", "padding-one-side")
def conv_output_size_one_side(n, kernel, stride=1, padding=0, dilation=1):
    return (n + padding - dilation * (kernel - 1) - 1) // stride + 1


@PITFALLS.variant("conv_output_size", "ignores-dilation")
def conv_output_size_no_dilation(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - kernel) // stride + 1


@PITFALLS.variant("conv_output_size", "ignores-dilation")
def conv_output_size_dilation_times_kernel(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * kernel) // stride + 1


# ---- conv2d --------------------------------------------------------------------------------

def conv2d(x, w, b=None, stride=1, padding=0):
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    n, c, h, wd = x.shape
    f, c_w, kh, kw = w.shape
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (wd + 2 * pw - kw) // sw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, f, oh, ow))
    for u in range(kh):
        for v in range(kw):
            patch = xp[:, :, u:u + sh * (oh - 1) + 1:sh, v:v + sw * (ow - 1) + 1:sw]
            out += np.einsum("nchw,fc->nfhw", patch, w[:, :, u, v])
    if b is not None:
        out += np.asarray(b, dtype=np.float64)[None, :, None, None]
    return out


@PITFALLS.variant("conv2d", "flipped-kernel")
def conv2d_true_convolution(x, w, b=None, stride=1, padding=0):
    return conv2d(x, np.asarray(w)[..., ::-1, ::-1], b, stride, padding)


@PITFALLS.variant("conv2d", "stride-ignored")
def conv2d_stride_one(x, w, b=None, stride=1, padding=0):
    return conv2d(x, w, b, 1, padding)


@PITFALLS.variant("conv2d", "stride-ignored")
def conv2d_stride_only_in_shape(x, w, b=None, stride=1, padding=0):
    """Right output size, but the window for output (i, j) starts at (i, j), not (i*s, j*s)."""
    oh, ow = conv2d(x, w, b, stride, padding).shape[2:]
    return conv2d(x, w, b, 1, padding)[:, :, :oh, :ow]


@PITFALLS.variant("conv2d", "channels-not-summed")
def conv2d_last_channel_only(x, w, b=None, stride=1, padding=0):
    """out[...] = ... inside a loop over channels: only the last channel survives."""
    return conv2d(np.asarray(x)[:, -1:], np.asarray(w)[:, -1:], b, stride, padding)


@PITFALLS.variant("conv2d", "channels-not-summed")
def conv2d_first_channel_only(x, w, b=None, stride=1, padding=0):
    return conv2d(np.asarray(x)[:, :1], np.asarray(w)[:, :1], b, stride, padding)


@PITFALLS.variant("conv2d", "channels-not-summed")
def conv2d_channel_mean(x, w, b=None, stride=1, padding=0):
    out = conv2d(x, w, None, stride, padding) / np.shape(x)[1]
    return out if b is None else out + np.asarray(b, dtype=np.float64)[None, :, None, None]


@PITFALLS.variant("conv2d", "channels-not-summed")
def conv2d_channels_kept(x, w, b=None, stride=1, padding=0):
    """One map per (filter, channel): (N, F, C, OH, OW)."""
    x, w = np.asarray(x), np.asarray(w)
    per = np.stack([conv2d(x[:, c:c + 1], w[:, c:c + 1], None, stride, padding)
                    for c in range(x.shape[1])], axis=2)
    return per if b is None else per + np.asarray(b, dtype=np.float64)[None, :, None, None, None]


@PITFALLS.variant("conv2d", "bias-missing")
def conv2d_without_bias(x, w, b=None, stride=1, padding=0):
    return conv2d(x, w, None, stride, padding)


# ---- max_pool2d ----------------------------------------------------------------------------

def max_pool2d(x, kernel, stride=None):
    x = np.asarray(x, dtype=np.float64)
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    windows = sliding_window_view(x, (kh, kw), axis=(2, 3))[:, :, ::sh, ::sw]
    return windows.max(axis=(-2, -1))


@PITFALLS.variant("max_pool2d", "stride-ignored")
def max_pool2d_stride_one(x, kernel, stride=None):
    return max_pool2d(x, kernel, 1)


@PITFALLS.variant("max_pool2d", "stride-ignored")
def max_pool2d_stride_only_in_shape(x, kernel, stride=None):
    oh, ow = max_pool2d(x, kernel, stride).shape[2:]
    return max_pool2d(x, kernel, 1)[:, :, :oh, :ow]


@PITFALLS.variant("max_pool2d", "missing-plus-one")
def max_pool2d_last_window_dropped(x, kernel, stride=None):
    return max_pool2d(x, kernel, stride)[:, :, :-1, :-1]


@PITFALLS.variant("max_pool2d", "not-floored")
def max_pool2d_ceil_mode(x, kernel, stride=None):
    """Partial windows at the border are kept (ceil_mode=True)."""
    x = np.asarray(x, dtype=np.float64)
    kh, kw = _pair(kernel)
    sh, sw = _pair(kernel if stride is None else stride)
    h, wd = x.shape[2:]
    oh = -(-(h - kh) // sh) + 1
    ow = -(-(wd - kw) // sw) + 1
    extra_h = max(0, (oh - 1) * sh + kh - h)
    extra_w = max(0, (ow - 1) * sw + kw - wd)
    xp = np.pad(x, ((0, 0), (0, 0), (0, extra_h), (0, extra_w)), constant_values=-np.inf)
    return max_pool2d(xp, (kh, kw), (sh, sw))


# ---- parameter counts ----------------------------------------------------------------------

def conv_param_count(in_channels, out_channels, kernel, bias=True):
    kh, kw = _pair(kernel)
    return out_channels * (in_channels * kh * kw + (1 if bias else 0))


@PITFALLS.variant("conv_param_count", "bias-missing")
def conv_param_count_without_bias(in_channels, out_channels, kernel, bias=True):
    return conv_param_count(in_channels, out_channels, kernel, bias=False)


@PITFALLS.variant("conv_param_count", "channels-not-summed")
def conv_param_count_one_channel(in_channels, out_channels, kernel, bias=True):
    return conv_param_count(1, out_channels, kernel, bias)


def dense_param_count(in_features, out_features, bias=True):
    return in_features * out_features + (out_features if bias else 0)


@PITFALLS.variant("dense_param_count", "bias-missing")
def dense_param_count_without_bias(in_features, out_features, bias=True):
    return in_features * out_features


# ---- receptive field -----------------------------------------------------------------------

def receptive_field(layers):
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field


@PITFALLS.variant("receptive_field", "ignores-stride-product")
def receptive_field_no_strides(layers):
    return 1 + sum(kernel - 1 for kernel, _ in layers)


@PITFALLS.variant("receptive_field", "ignores-stride-product")
def receptive_field_previous_stride_only(layers):
    field, previous = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * previous
        previous = stride
    return field


@PITFALLS.variant("receptive_field", "ignores-stride-product")
def receptive_field_own_stride_included(layers):
    field, jump = 1, 1
    for kernel, stride in layers:
        jump *= stride
        field += (kernel - 1) * jump
    return field


@PITFALLS.variant("receptive_field", "ignores-stride-product")
def receptive_field_strides_added(layers):
    field, jump = 1, 1
    for i, (kernel, stride) in enumerate(layers):
        field += (kernel - 1) * jump
        jump = jump + stride if i else stride
    return field
