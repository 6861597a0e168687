"""q11_convolution: the functions a student writes, the mistakes its checks can name, and the
library shortcuts the exercise must do without (the catalogue: "Forbidden: torch")."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("conv_output_size", "conv2d", "max_pool2d", "conv_param_count", "dense_param_count",
               "receptive_field"),
    catalogue={
    "missing-plus-one": ("the output size is one too small: the +1 that counts the first window "
                         "position was left out.",
                         "Count the window's starting positions 0, s, 2s, ... up to the last one "
                         "that still fits: the number of steps you can take, plus the first "
                         "position itself."),
    "not-floored": ("the division by the stride was not rounded down: a window that would hang "
                    "over the edge was counted (or a fraction was returned).",
                    "A window that does not fit entirely inside the (padded) input is dropped, as "
                    "PyTorch does by default: use integer floor division (//) and return an int."),
    "padding-one-side": ("the padding was added only once, but it goes on both sides of the input.",
                         "A padding of p adds p rows at the top and p at the bottom: the padded "
                         "length is n + 2*p."),
    "ignores-dilation": ("the dilation was ignored: a dilated kernel covers more input than its "
                         "number of taps.",
                         "With dilation d there are d - 1 gaps between neighbouring taps: count "
                         "how many input positions a dilated kernel of k taps spans, and use that "
                         "span in place of k."),
    "flipped-kernel": ("the kernel was flipped, which is the mathematical convolution; deep-learning "
                       "'convolutions' (torch.nn.functional.conv2d) are cross-correlations.",
                       "Multiply each window by w as it is, tap (u, v) of the kernel with pixel "
                       "(i*s + u, j*s + v) of the padded input, with no [::-1]."),
    "stride-ignored": ("the stride was not applied: the window moved by one pixel (or the output "
                       "has the stride-1 size).",
                       "Output position (i, j) reads the window starting at (i*stride, j*stride), "
                       "and the output size uses the stride."),
    "channels-not-summed": ("the input channels were not all combined: each filter spans every input "
                            "channel, and its output is the sum over all of them.",
                            "For filter f take the full (C, KH, KW) block: "
                            "np.sum(window * w[f]) over channels and kernel taps together "
                            "(accumulate with +=, do not overwrite or average); a filter has "
                            "C*KH*KW weights."),
    "bias-missing": ("the bias was left out.",
                     "When a bias is given, add b[f] to every output position of filter f "
                     "(out + b[None, :, None, None]); in a parameter count, each output "
                     "channel or unit has one bias when bias=True."),
    "ignores-stride-product": ("the strides were not combined as they act: a kernel tap of layer l "
                               "is as far apart in the input as the product of the strides of the "
                               "layers before l (not their sum, and not including l's own stride).",
                               "Keep a running 'jump' (how far apart in the input two neighbouring "
                               "positions of the current layer are), starting at 1 and multiplied "
                               "by each stride, and widen the field by (k - 1) jumps per layer. Or "
                               "walk backwards from one output pixel, layer by layer."),
    },
    uses=("forbidden-api",),
)

# The exercise is NumPy only ("Forbidden: torch"): these torch entry points would do the work, or
# bring the data into torch to do it there. A check of any function that uses one fails with
# `forbidden-api`. Public on purpose: the notebook says the same in words.
TORCH = (
    "torch.nn.functional.conv2d", "torch.conv2d", "torch.nn.functional.conv_transpose2d",
    "torch.nn.functional.unfold", "torch.nn.functional.max_pool2d", "torch.max_pool2d",
    "torch.nn.functional.adaptive_max_pool2d", "torch.nn.Conv2d", "torch.nn.MaxPool2d",
    "torch.nn.Linear", "torch.nn.Unfold", "torch.from_numpy", "torch.tensor", "torch.as_tensor",
    "torch.asarray",
)
FORBIDDEN = {function: TORCH for function in LABELS.functions}
