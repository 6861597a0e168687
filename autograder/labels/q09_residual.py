"""q09_residual: the functions a student writes and the mistakes its checks can name.

Everything here is graded through harnesses (autograder/harnesses/q09_residual.py): the detectors
below receive the harness's trace as `got` and the harness's parameters as keyword arguments.
"""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("BasicBlock", "Bottleneck", "layer_gradient_norms", "make_mlp"),
    catalogue={
        "relu-before-add": (
            "the last ReLU was applied to the residual branch before the addition, so the branch "
            "can only add non-negative values to the shortcut.",
            "End the branch with its last batch norm (bn2; bn3 in the Bottleneck), then "
            "out = out + identity, and only then the final ReLU."),
        "missing-final-relu": (
            "the block returned branch + shortcut without the ReLU after the addition.",
            "Return relu(out + identity)."),
        "missing-projection": (
            "the shortcut was the plain input even where the stride or the number of channels "
            "changes, so branch and shortcut no longer have the same shape (or the block has no "
            "`downsample` to load).",
            "When stride != 1 or the channels change, set self.downsample = nn.Sequential("
            "nn.Conv2d(in, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out)) and use "
            "identity = self.downsample(x); otherwise self.downsample = None."),
        "inplace-on-input": (
            "the output is right but the block changed its input tensor in place (e.g. "
            "`identity = x; identity += out`), which corrupts x for whoever else uses it and breaks "
            "autograd when x requires grad.",
            "Add out of place: out = out + identity (or add in place into `out`, never into x)."),
        "stride-on-first-conv": (
            "the stride was put on the first 1x1 convolution; the Bottleneck of torchvision "
            "(ResNet v1.5) strides the 3x3 conv2, so the 1x1 conv does not skip three quarters of "
            "its input.",
            "conv1 = 1x1, stride 1; conv2 = 3x3 with stride=stride, padding=1."),
    },
    uses=(),
    extra={
        "hooks-left-behind": (
            "hooks were left registered on the model, so every later forward or backward pass "
            "still calls them (and whatever they append to is never freed).",
            "Keep the handle each register_*_hook returns and call handle.remove() when you are "
            "done, in a `finally:` so that an exception cannot skip it."),
        "wrong-submodule-names": (
            "the block's parameters do not have the names a torchvision-style state dict uses "
            "(conv1, bn1, conv2, bn2[, conv3, bn3], downsample.0, downsample.1), so its weights "
            "cannot be loaded.",
            "Name the submodules exactly as in the exercise and keep downsample as "
            "nn.Sequential(conv, batchnorm)."),
        "conv-has-bias": (
            "a convolution has a bias; a conv followed by batch norm does not need one (BN's beta "
            "shifts), and the state dict has none.",
            "Create the convs with bias=False."),
        "stale-gradients-not-cleared": (
            "gradients already stored in the model were not cleared, so the norms include the "
            "earlier gradients.",
            "Call model.zero_grad() (or set each p.grad = None) before the forward pass."),
        "norms-in-registration-order": (
            "the norms come in the order the layers were defined (model.modules()), not in the "
            "order the forward pass calls them.",
            "Record the layers in a forward pre-hook (or forward hook) during the pass and read "
            "the gradients in that order."),
        "wrong-layer-count": (
            "the list does not hold one norm per nn.Linear / nn.Conv1d/2d/3d module that the "
            "forward pass calls (a conv layer left out, or a layer called twice listed twice).",
            "Record each Linear / Conv module once, at its first call (a forward pre-hook that "
            "appends a module not yet in the list), Conv1d, Conv2d and Conv3d included."),
        "wrong-mlp-structure": (
            "the model does not consist of `depth` distinct nn.Linear(width, width) layers with "
            "bias, each called once per forward pass (one layer reused, a layer too many or too "
            "few, or bias=False).",
            "Create a new nn.Linear(width, width) for every layer (a list comprehension or a loop, "
            "not [layer] * depth), each with its ReLU, and call each one once."),
        "relu-after-add": (
            "the residual layer computed relu(x + linear(x)); the exercise's residual layer is "
            "x + relu(linear(x)), whose shortcut is a clean identity path for the gradient.",
            "x = x + relu(linear(x))."),
        "missing-last-relu": (
            "the last Linear of the MLP is not followed by a ReLU; in this exercise every one of "
            "the depth layers is Linear followed by ReLU.",
            "Append nn.ReLU() after every Linear, the last included."),
    },
)


# ---- BasicBlock / Bottleneck: properties of the trace of harnesses.q09_residual.block_trace -------

@LABELS.detector("BasicBlock", "inplace-on-input")
@LABELS.detector("Bottleneck", "inplace-on-input")
def changed_its_input(got, **_):
    return bool(got.get("input_modified"))


@LABELS.detector("BasicBlock", "missing-projection")
@LABELS.detector("Bottleneck", "missing-projection")
def no_projection_where_needed(got, **_):
    """The state dict has a projection the block lacks, and nothing else is misnamed."""
    load = got.get("load") or {}
    unexpected = load.get("unexpected", [])
    return (bool(unexpected) and all(k.startswith("downsample.") for k in unexpected)
            and not load.get("missing") and not got.get("has_downsample_params"))


@LABELS.detector("BasicBlock", "conv-has-bias")
@LABELS.detector("Bottleneck", "conv-has-bias")
def conv_with_bias(got, **_):
    load = got.get("load") or {}
    missing = load.get("missing", [])
    return bool(missing) and all(k.endswith(".bias") and ("conv" in k or k.startswith("downsample.0"))
                                 for k in missing)


@LABELS.detector("BasicBlock", "wrong-submodule-names")
@LABELS.detector("Bottleneck", "wrong-submodule-names")
def names_do_not_load(got, **_):
    load = got.get("load") or {}
    return bool(load.get("missing")) and bool(load.get("unexpected"))
