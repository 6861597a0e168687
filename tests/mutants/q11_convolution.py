"""q11 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
"""

MUTANTS = [
    ("missing-plus-one", "conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) // stride
'''),
    ("not-floored", "conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1
'''),
    ("not-floored", "conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return math.ceil((n + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1
'''),
    ("padding-one-side", "conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    effective = dilation * (kernel - 1) + 1
    return (n + padding - effective) // stride + 1
'''),
    ("ignores-dilation", "conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return (n + 2 * padding - kernel) // stride + 1
'''),
    ("flipped-kernel", "conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (wd + 2 * padding - kw) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    flipped = w[:, :, ::-1, ::-1]   # "convolution flips the kernel"
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, flipped)
    if b is not None:
        out += b[None, :, None, None]
    return out
'''),
    ("stride-ignored", "conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh = h + 2 * padding - kh + 1
    ow = wd + 2 * padding - kw + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i:i + kh, j:j + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
    if b is not None:
        out += b[None, :, None, None]
    return out
'''),
    ("stride-ignored", "conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(wd, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i:i + kh, j:j + kw]     # forgot to multiply by the stride
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
    if b is not None:
        out += b[None, :, None, None]
    return out
'''),
    ("channels-not-summed", "conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(wd, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n, f, oh, ow))
    for k in range(f):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[:, ch, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    out[:, k, i, j] = (patch * w[k, ch]).sum(axis=(1, 2))   # = instead of +=
    if b is not None:
        out += b[None, :, None, None]
    return out
'''),
    ("bias-missing", "conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(wd, kw, stride, padding)
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
    return out
'''),
    ("forbidden-api", "conv2d", '''
import torch
import torch.nn.functional as F
def conv2d(x, w, b=None, stride=1, padding=0):
    bias = None if b is None else torch.from_numpy(b)
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), bias, stride=stride,
                    padding=padding).numpy()
'''),
    ("forbidden-api", "max_pool2d", '''
import torch
def max_pool2d(x, kernel, stride):
    return torch.nn.functional.max_pool2d(torch.tensor(x), kernel, stride)
'''),
    ("mutates-input", "max_pool2d", '''
def max_pool2d(x, kernel, stride):
    n, c, h, wd = x.shape
    oh = (h - kernel) // stride + 1
    ow = (wd - kernel) // stride + 1
    for i in range(oh):               # write each maximum into the input to save memory
        for j in range(ow):
            win = x[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            x[:, :, i, j] = win.max(axis=(2, 3))
    return x[:, :, :oh, :ow].copy()
'''),
    ("stride-ignored", "max_pool2d", '''
def max_pool2d(x, kernel, stride):
    n, c, h, wd = x.shape
    oh, ow = h - kernel + 1, wd - kernel + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[:, :, i, j] = x[:, :, i:i + kernel, j:j + kernel].max(axis=(2, 3))
    return out
'''),
    ("not-floored", "max_pool2d", '''
def max_pool2d(x, kernel, stride):
    n, c, h, wd = x.shape
    oh = math.ceil((h - kernel) / stride) + 1
    ow = math.ceil((wd - kernel) / stride) + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = x[:, :, i * stride:i * stride + kernel, j * stride:j * stride + kernel]
            out[:, :, i, j] = win.max(axis=(2, 3))
    return out
'''),
    ("bias-missing", "conv_param_count", '''
def conv_param_count(in_channels, out_channels, kernel, bias=True):
    return in_channels * out_channels * kernel * kernel
'''),
    ("channels-not-summed", "conv_param_count", '''
def conv_param_count(in_channels, out_channels, kernel, bias=True):
    return out_channels * (kernel * kernel + int(bias))
'''),
    ("bias-missing", "dense_param_count", '''
def dense_param_count(in_features, out_features, bias=True):
    return in_features * out_features
'''),
    ("ignores-stride-product", "receptive_field", '''
def receptive_field(layers):
    return 1 + sum(k - 1 for k, s in layers)
'''),
    ("ignores-stride-product", "receptive_field", '''
def receptive_field(layers):
    r, prev_stride = 1, 1
    for k, s in layers:
        r += (k - 1) * prev_stride
        prev_stride = s
    return r
'''),
    ("forbidden-api", "conv_param_count", '''
import torch
def conv_param_count(in_channels, out_channels, kernel, bias=True):
    layer = torch.nn.Conv2d(in_channels, out_channels, kernel, bias=bias)
    return sum(p.numel() for p in layer.parameters())
'''),
    ("missing-plus-one", "conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    # "the kernel slides (n - k) / s times"
    effective = dilation * (kernel - 1) + 1
    return int((n + 2 * padding - effective) // stride)
'''),
    ("flipped-kernel", "conv2d", '''
from numpy.lib.stride_tricks import sliding_window_view
def conv2d(x, w, b=None, stride=1, padding=0):
    # the textbook convolution: rotate the kernel by 180 degrees, then slide it
    k = np.rot90(w, 2, axes=(2, 3))
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(xp, k.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwuv,fcuv->nfhw", win, k)
    return out if b is None else out + b[None, :, None, None]
'''),
    ("mutates-input", "receptive_field", '''
def receptive_field(layers):
    layers.reverse()            # walk back from the output
    r = 1
    for k, s in layers:
        r = (r - 1) * s + k
    return r
'''),
]

ALTERNATIVES = [
    ("conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return math.floor((n + 2 * padding - dilation * (kernel - 1) - 1) / stride + 1)
'''),
    ("conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    # count the window starts 0, s, 2s, ... that still fit in the padded input
    last_start = n + 2 * padding - (dilation * (kernel - 1) + 1)
    return np.int64(len(range(0, last_start + 1, stride)))
'''),
    ("conv_output_size", '''
def conv_output_size(n, kernel, stride=1, padding=0, dilation=1):
    return float(np.floor((n + 2 * padding - dilation * (kernel - 1) - 1) / stride)) + 1.0
'''),
    ("conv2d", '''
from numpy.lib.stride_tricks import sliding_window_view
def conv2d(x, w, b=None, stride=1, padding=0):
    xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    win = sliding_window_view(xp, w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.einsum("nchwuv,fcuv->nfhw", win, w)
    return out if b is None else out + b.reshape(1, -1, 1, 1)
'''),
    ("conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    # im2col: every window becomes a column, the filters become rows, one matrix product
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = (H + 2 * padding - KH) // stride + 1
    OW = (W + 2 * padding - KW) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    cols = np.empty((N, C * KH * KW, OH * OW))
    for i in range(OH):
        for j in range(OW):
            cols[:, :, i * OW + j] = xp[:, :, i * stride:i * stride + KH,
                                        j * stride:j * stride + KW].reshape(N, -1)
    out = (w.reshape(F, -1) @ cols).reshape(N, F, OH, OW)
    if b is not None:
        out = out + b[:, None, None]
    return out
'''),
    ("conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    N, C, H, W = x.shape
    F, _, KH, KW = w.shape
    OH = conv_output_size(H, KH, stride, padding)
    OW = conv_output_size(W, KW, stride, padding)
    xp = np.zeros((N, C, H + 2 * padding, W + 2 * padding), dtype=x.dtype)
    xp[:, :, padding:padding + H, padding:padding + W] = x
    out = np.zeros((N, F, OH, OW))
    for n in range(N):
        for f in range(F):
            for i in range(OH):
                for j in range(OW):
                    total = 0.0 if b is None else b[f]
                    for c in range(C):
                        for u in range(KH):
                            for v in range(KW):
                                total += xp[n, c, i * stride + u, j * stride + v] * w[f, c, u, v]
                    out[n, f, i, j] = total
    return out
'''),
    ("conv2d", '''
def conv2d(x, w, b=None, stride=1, padding=0):
    # float32 working precision is still within tolerance
    out = None
    xp = np.pad(x.astype(np.float32), ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    KH, KW = w.shape[2:]
    OH = (xp.shape[2] - KH) // stride + 1
    OW = (xp.shape[3] - KW) // stride + 1
    out = np.zeros((x.shape[0], w.shape[0], OH, OW), dtype=np.float32)
    for u in range(KH):
        for v in range(KW):
            sl = xp[:, :, u:u + stride * (OH - 1) + 1:stride, v:v + stride * (OW - 1) + 1:stride]
            out += np.tensordot(sl, w[:, :, u, v].astype(np.float32), axes=([1], [1])).transpose(0, 3, 1, 2)
    if b is not None:
        out += b.astype(np.float32)[None, :, None, None]
    return out
'''),
    ("max_pool2d", '''
from numpy.lib.stride_tricks import sliding_window_view
def max_pool2d(x, kernel, stride):
    win = sliding_window_view(x, (kernel, kernel), axis=(2, 3))
    return win[:, :, ::stride, ::stride].max(axis=(4, 5))
'''),
    ("max_pool2d", '''
def max_pool2d(x, kernel, stride):
    N, C, H, W = x.shape
    OH, OW = (H - kernel) // stride + 1, (W - kernel) // stride + 1
    out = np.full((N, C, OH, OW), -np.inf)
    for u in range(kernel):            # loop over the taps, take a running maximum
        for v in range(kernel):
            out = np.maximum(out, x[:, :, u:u + stride * (OH - 1) + 1:stride,
                                       v:v + stride * (OW - 1) + 1:stride])
    return out
'''),
    ("conv_param_count", '''
def conv_param_count(in_channels, out_channels, kernel, bias=True):
    ks = (kernel, kernel) if isinstance(kernel, int) else tuple(kernel)
    return np.int64(np.prod((in_channels, out_channels) + ks) + out_channels * bool(bias))
'''),
    ("dense_param_count", '''
def dense_param_count(in_features, out_features, bias=True):
    return np.int64((in_features + int(bias)) * out_features)
'''),
    ("dense_param_count", '''
def dense_param_count(in_features, out_features, bias=True):
    weights = in_features * out_features   # one weight per (input, output) pair
    biases = out_features if bias else 0
    return weights + biases
'''),
    ("conv_param_count", '''
def conv_param_count(in_channels, out_channels, kernel, bias=True):
    # every filter: one kernel slice per input channel, and one bias
    per_filter = in_channels * kernel ** 2 + (1 if bias else 0)
    return out_channels * per_filter
'''),
    ("receptive_field", '''
def receptive_field(layers):
    # CS231n-style "jump" bookkeeping: r_out = r_in + (k - 1) * j_in, j_out = j_in * s
    r, j = 1, 1
    for layer in layers:
        k, s = layer
        r, j = r + (k - 1) * j, j * s
    return r
'''),
    ("receptive_field", '''
def receptive_field(layers):
    r = 1
    for k, s in reversed(layers):
        r = (r - 1) * s + k
    return r
'''),
    ("receptive_field", '''
def receptive_field(layers):
    strides = [s for _, s in layers]
    return int(1 + sum((k - 1) * np.prod(strides[:i], dtype=np.int64)
                       for i, (k, _) in enumerate(layers)))
'''),
]
