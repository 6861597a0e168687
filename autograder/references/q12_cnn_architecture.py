"""q12_cnn_architecture: reference answers and the classic mistakes as code. Never leaves the instructor.

`cnn_output_shapes` is plain data and is checked like any function. The other three take or make a
model, so their checks run a harness of autograder/harnesses/q12_cnn_architecture.py on the student's
namespace and on the references' (a variant below is run through the same harness in place of the
reference, so its trace is compared with the student's).

`build_cnn` has no variants: a random initialisation never reproduces exactly, so its mistakes are
named by rules on the student's trace alone, as is a `layer_shapes` that changes the model; those
rules hold no answer and live in autograder/labels/q12_cnn_architecture.py.

`cnn_output_shapes` is answered by torch itself: the spec's layers are applied to a tensor on the
"meta" device (shapes only, no data, no arithmetic), so the expected shapes are torch's own.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from autograder.labels.q12_cnn_architecture import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
STANDINS = ()   # no catalogue function of q12 calls another



# ---- build_cnn ------------------------------------------------------------------------------------

class SmallCNN(nn.Module):
    """Four conv blocks (conv 3x3 same, batch norm, ReLU, 2x2 max-pool), flatten, two FC layers.

    (B, 3, 224, 224) -> 8x112x112 -> 16x56x56 -> 32x28x28 -> 64x14x14 -> (B, 12544) -> (B, 128)
    -> (B, num_classes): about 1.63 M parameters, 1.6 M of them in the first FC layer. Narrow early
    layers keep the 224x224 convolutions cheap (about 1 s for the 10-step check on one core).
    """

    def __init__(self, num_classes=10, in_channels=3):
        super().__init__()
        layers, c = [], in_channels
        for width in (8, 16, 32, 64):
            layers += [nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c = width
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 14 * 14, 128), nn.ReLU(),
                                        nn.Linear(128, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))   # logits: CrossEntropyLoss does the softmax


def build_cnn(num_classes=10, in_channels=3):
    return SmallCNN(num_classes, in_channels)


# ---- layer_shapes ---------------------------------------------------------------------------------

def _is_leaf(module):
    return next(module.children(), None) is None


def _shape_of(output):
    if isinstance(output, (tuple, list)):
        output = output[0]
    return tuple(output.shape)


def _run_with_hooks(model, input_shape, hooked):
    """Run one forward pass in eval mode without gradients, with `hooked` = [(name, module, hook)];
    put the model back as it was (hooks removed, every module's own mode restored)."""
    handles = [m.register_forward_hook(h) for _, m, h in hooked]
    modes = [(m, m.training) for m in model.modules()]
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.is_floating_point() else torch.get_default_dtype()
    try:
        model.eval()   # batch norm must not update its running statistics
        with torch.no_grad():
            model(torch.zeros(tuple(int(d) for d in input_shape), dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode


def layer_shapes(model, input_shape):
    records = []

    def hook_for(name):
        def hook(module, args, output):
            records.append((name, _shape_of(output)))
        return hook

    leaves = [(name, m, hook_for(name)) for name, m in model.named_modules() if _is_leaf(m)]
    _run_with_hooks(model, input_shape, leaves)
    return records


def _layer_shapes_by_name(model, input_shape, keep):
    shapes = {}

    def hook_for(name):
        def hook(module, args, output):
            if keep == "last" or name not in shapes:
                shapes[name] = _shape_of(output)
        return hook

    leaves = [(name, m, hook_for(name)) for name, m in model.named_modules() if _is_leaf(m)]
    _run_with_hooks(model, input_shape, leaves)
    return list(shapes.items())


@PITFALLS.variant("layer_shapes", "one-entry-per-module")
def layer_shapes_dict_first(model, input_shape):
    return _layer_shapes_by_name(model, input_shape, "first")


@PITFALLS.variant("layer_shapes", "one-entry-per-module")
def layer_shapes_dict_last(model, input_shape):
    return _layer_shapes_by_name(model, input_shape, "last")


@PITFALLS.variant("layer_shapes", "includes-containers")
def layer_shapes_every_module(model, input_shape):
    records = []

    def hook_for(name):
        def hook(module, args, output):
            records.append((name, _shape_of(output)))
        return hook

    _run_with_hooks(model, input_shape, [(n, m, hook_for(n)) for n, m in model.named_modules()])
    return records


# ---- cnn_output_shapes ----------------------------------------------------------------------------

def _pool_size(h, k, s, mode):
    if mode == "floor":                 # nn.MaxPool2d(k, s): complete windows only
        return (h - k) // s + 1
    if mode == "no-plus-one":
        return (h - k) // s
    if mode == "ceil":                  # as if ceil_mode=True
        return -(-(h - k) // s) + 1
    if mode == "h-over-s":
        return h // s
    if mode == "ceil-h-over-s":         # "same" pooling
        return -(-h // s)
    raise ValueError(mode)


def _output_shapes(spec, input_shape, pool="floor", flatten="chw"):
    """Shapes after each layer, with one knob per classic mistake; the defaults are the right answer."""
    shape = tuple(int(d) for d in input_shape)
    out = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            channels, k, s, p = (int(v) for v in layer[1:5])
            b, _, h, w = shape
            shape = (b, channels, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
        elif kind == "pool":
            k, s = int(layer[1]), int(layer[2])
            b, c, h, w = shape
            shape = (b, c, _pool_size(h, k, s, pool), _pool_size(w, k, s, pool))
        elif kind == "flatten":
            if flatten == "batch-folded":   # torch.flatten(x) without start_dim=1
                shape = (math.prod(shape),)
            elif len(shape) == 4 and flatten == "hw":
                shape = (shape[0], shape[2] * shape[3])
            elif len(shape) == 4 and flatten == "c":
                shape = (shape[0], shape[1])
            else:
                shape = (shape[0], math.prod(shape[1:]))
        elif kind == "fc":
            shape = shape[:-1] + (int(layer[1]),)   # nn.Linear acts on the last axis
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        out.append(shape)
    return out


def cnn_output_shapes(spec, input_shape):
    """torch's shapes: each layer applied to a "meta" tensor (nn.Conv2d(c, out, k, s, p),
    nn.MaxPool2d(k, s), nn.Flatten(), nn.Linear(f, out) in functional form)."""
    x = torch.empty(tuple(int(d) for d in input_shape), device="meta")
    shapes = []
    for layer in spec:
        kind = layer[0]
        if kind == "conv":
            out_ch, k, s, p = (int(v) for v in layer[1:5])
            w = torch.empty(out_ch, x.shape[1], k, k, device="meta")
            x = F.conv2d(x, w, torch.empty(out_ch, device="meta"), stride=s, padding=p)
        elif kind == "pool":
            x = F.max_pool2d(x, int(layer[1]), int(layer[2]))
        elif kind == "flatten":
            x = torch.flatten(x, 1)
        elif kind == "fc":
            x = F.linear(x, torch.empty(int(layer[1]), x.shape[-1], device="meta"))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
        shapes.append(tuple(int(d) for d in x.shape))
    return shapes


@PITFALLS.variant("cnn_output_shapes", "pool-off-by-one")
def cnn_output_shapes_pool_no_plus_one(spec, input_shape):
    return _output_shapes(spec, input_shape, pool="no-plus-one")


@PITFALLS.variant("cnn_output_shapes", "pool-off-by-one")
def cnn_output_shapes_pool_ceil(spec, input_shape):
    return _output_shapes(spec, input_shape, pool="ceil")


@PITFALLS.variant("cnn_output_shapes", "pool-off-by-one")
def cnn_output_shapes_pool_h_over_s(spec, input_shape):
    return _output_shapes(spec, input_shape, pool="h-over-s")


@PITFALLS.variant("cnn_output_shapes", "pool-off-by-one")
def cnn_output_shapes_pool_same(spec, input_shape):
    return _output_shapes(spec, input_shape, pool="ceil-h-over-s")


@PITFALLS.variant("cnn_output_shapes", "flatten-size-wrong")
def cnn_output_shapes_flatten_without_channels(spec, input_shape):
    return _output_shapes(spec, input_shape, flatten="hw")


@PITFALLS.variant("cnn_output_shapes", "flatten-size-wrong")
def cnn_output_shapes_flatten_channels_only(spec, input_shape):
    return _output_shapes(spec, input_shape, flatten="c")


@PITFALLS.variant("cnn_output_shapes", "flatten-size-wrong")
def cnn_output_shapes_flatten_batch_folded(spec, input_shape):
    return _output_shapes(spec, input_shape, flatten="batch-folded")


# ---- count_parameters -----------------------------------------------------------------------------

def _trainable(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def count_parameters(model):
    return _trainable(model)


# A variant is put into the harness's namespace under the name `count_parameters`: it must never
# call `count_parameters` itself (it would call itself), hence the private helper.
@PITFALLS.variant("count_parameters", "counts-frozen")
def count_parameters_all(model):
    return sum(p.numel() for p in model.parameters())


@PITFALLS.variant("count_parameters", "counts-buffers")
def count_parameters_with_buffers(model):
    return _trainable(model) + sum(b.numel() for b in model.buffers())


@PITFALLS.variant("count_parameters", "counts-buffers")
def count_parameters_all_with_buffers(model):
    if next(model.buffers(), None) is None:
        raise ValueError("the model has no buffers")   # then this is counts-frozen's number
    return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in model.buffers())


@PITFALLS.variant("count_parameters", "counts-buffers")
def count_parameters_state_dict(model):
    if next(model.buffers(), None) is None:
        # Without buffers this is counts-frozen's number: let that label explain it.
        raise ValueError("the model has no buffers")
    return sum(t.numel() for t in model.state_dict().values())
