"""q09_residual: reference answers and the classic mistakes as code. Never leaves the instructor.

BasicBlock and Bottleneck follow torchvision's ResNet (v1.5: the Bottleneck strides its 3x3 conv),
so torchvision state dicts load into them. The mistakes of a class are registered as factory
functions with the class's signature: the oracle runs a harness with the factory in place of the
class (it swaps functions), and the harness only ever calls `BasicBlock(*args)`.
"""
import torch
from torch import nn

from autograder.labels.q09_residual import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
STANDINS = ()


def _projection(in_channels, out_channels, stride):
    """torchvision's downsample: a strided 1x1 conv without bias and a BatchNorm2d."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                         nn.BatchNorm2d(out_channels))


# ---- BasicBlock -------------------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """conv3x3(stride)-BN-ReLU-conv3x3-BN, plus the shortcut, then ReLU. (N, in, H, W) ->
    (N, out, H / stride, W / stride). The shortcut is the input itself, or downsample(x) (1x1 conv
    + BN) when the stride or the number of channels changes."""

    expansion = 1

    def __init__(self, in_channels, out_channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if self._needs_projection(in_channels, out_channels, stride):
            self.downsample = _projection(in_channels, out_channels, stride)

    @staticmethod
    def _needs_projection(in_channels, out_channels, stride):
        return stride != 1 or in_channels != out_channels

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def branch(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))


class _BasicReluBeforeAdd(BasicBlock):
    def forward(self, x):
        return self.relu(self.relu(self.branch(x)) + self.shortcut(x))


class _BasicReluBeforeAddOnly(BasicBlock):
    def forward(self, x):
        return self.relu(self.branch(x)) + self.shortcut(x)


class _BasicNoFinalRelu(BasicBlock):
    def forward(self, x):
        return self.branch(x) + self.shortcut(x)


class _BasicNoProjection(BasicBlock):
    @staticmethod
    def _needs_projection(in_channels, out_channels, stride):
        return False


class _BasicProjectionOnChannelChange(BasicBlock):
    @staticmethod
    def _needs_projection(in_channels, out_channels, stride):
        return in_channels != out_channels


@PITFALLS.variant("BasicBlock", "relu-before-add")
def basic_block_relu_before_add(in_channels, out_channels, stride=1):
    return _BasicReluBeforeAdd(in_channels, out_channels, stride)


@PITFALLS.variant("BasicBlock", "relu-before-add")
def basic_block_relu_before_add_no_final_relu(in_channels, out_channels, stride=1):
    return _BasicReluBeforeAddOnly(in_channels, out_channels, stride)


@PITFALLS.variant("BasicBlock", "missing-final-relu")
def basic_block_without_final_relu(in_channels, out_channels, stride=1):
    return _BasicNoFinalRelu(in_channels, out_channels, stride)


@PITFALLS.variant("BasicBlock", "missing-projection")
def basic_block_without_projection(in_channels, out_channels, stride=1):
    return _BasicNoProjection(in_channels, out_channels, stride)


@PITFALLS.variant("BasicBlock", "missing-projection")
def basic_block_projection_on_channel_change_only(in_channels, out_channels, stride=1):
    return _BasicProjectionOnChannelChange(in_channels, out_channels, stride)


# ---- Bottleneck -------------------------------------------------------------------------------------

class Bottleneck(nn.Module):
    """conv1x1-BN-ReLU, conv3x3(stride)-BN-ReLU, conv1x1-BN to 4 * mid_channels, plus the shortcut,
    then ReLU. (N, in, H, W) -> (N, 4 * mid, H / stride, W / stride); downsample (1x1 conv + BN) when
    stride != 1 or in_channels != 4 * mid_channels."""

    expansion = 4

    def __init__(self, in_channels, mid_channels, stride=1):
        super().__init__()
        out_channels = self.expansion * mid_channels
        s1, s2 = self._strides(stride)
        self.conv1 = nn.Conv2d(in_channels, mid_channels, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid_channels)
        self.conv2 = nn.Conv2d(mid_channels, mid_channels, 3, stride=s2, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(mid_channels)
        self.conv3 = nn.Conv2d(mid_channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU()
        self.downsample = None
        if self._needs_projection(in_channels, out_channels, stride):
            self.downsample = _projection(in_channels, out_channels, stride)

    @staticmethod
    def _strides(stride):
        return 1, stride            # (conv1, conv2): the 3x3 conv strides (ResNet v1.5)

    @staticmethod
    def _needs_projection(in_channels, out_channels, stride):
        return stride != 1 or in_channels != out_channels

    def shortcut(self, x):
        return x if self.downsample is None else self.downsample(x)

    def branch(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))

    def forward(self, x):
        return self.relu(self.branch(x) + self.shortcut(x))


class _BottleneckStrideFirst(Bottleneck):
    @staticmethod
    def _strides(stride):
        return stride, 1            # the original (Caffe, v1) placement


class _BottleneckReluBeforeAdd(Bottleneck):
    def forward(self, x):
        return self.relu(self.relu(self.branch(x)) + self.shortcut(x))


class _BottleneckReluBeforeAddOnly(Bottleneck):
    def forward(self, x):
        return self.relu(self.branch(x)) + self.shortcut(x)


class _BottleneckNoFinalRelu(Bottleneck):
    def forward(self, x):
        return self.branch(x) + self.shortcut(x)


class _BottleneckNoProjection(Bottleneck):
    @staticmethod
    def _needs_projection(in_channels, out_channels, stride):
        return False


class _BottleneckProjectionOnStrideOnly(Bottleneck):
    @staticmethod
    def _needs_projection(in_channels, out_channels, stride):
        return stride != 1          # forgets the first block of a stage, where only channels grow


@PITFALLS.variant("Bottleneck", "stride-on-first-conv")
def bottleneck_stride_on_first_conv(in_channels, mid_channels, stride=1):
    return _BottleneckStrideFirst(in_channels, mid_channels, stride)


@PITFALLS.variant("Bottleneck", "relu-before-add")
def bottleneck_relu_before_add(in_channels, mid_channels, stride=1):
    return _BottleneckReluBeforeAdd(in_channels, mid_channels, stride)


@PITFALLS.variant("Bottleneck", "relu-before-add")
def bottleneck_relu_before_add_no_final_relu(in_channels, mid_channels, stride=1):
    return _BottleneckReluBeforeAddOnly(in_channels, mid_channels, stride)


@PITFALLS.variant("Bottleneck", "missing-final-relu")
def bottleneck_without_final_relu(in_channels, mid_channels, stride=1):
    return _BottleneckNoFinalRelu(in_channels, mid_channels, stride)


@PITFALLS.variant("Bottleneck", "missing-projection")
def bottleneck_without_projection(in_channels, mid_channels, stride=1):
    return _BottleneckNoProjection(in_channels, mid_channels, stride)


@PITFALLS.variant("Bottleneck", "missing-projection")
def bottleneck_projection_on_stride_only(in_channels, mid_channels, stride=1):
    return _BottleneckProjectionOnStrideOnly(in_channels, mid_channels, stride)


# ---- layer_gradient_norms ---------------------------------------------------------------------------

_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _norms(modules):
    return [0.0 if m.weight.grad is None else float(m.weight.grad.detach().norm()) for m in modules]


def _called_in_order(model, x):
    """Run model(x), returning the output and the Linear/Conv modules in the order of first call."""
    order, seen = [], set()

    def record(module, inputs):
        if id(module) not in seen:
            seen.add(id(module))
            order.append(module)

    handles = [m.register_forward_pre_hook(record) for m in model.modules() if isinstance(m, _WEIGHTED)]
    try:
        out = model(x)
    finally:
        for h in handles:
            h.remove()
    return out, order


def layer_gradient_norms(model, x, y, loss_fn):
    """Clear the gradients, run one forward and backward pass of loss_fn(model(x), y), and return
    the norm of the weight gradient of each nn.Linear / nn.Conv{1,2,3}d, in the order of their
    first call (a layer called twice is listed once, with its accumulated gradient)."""
    model.zero_grad(set_to_none=True)
    out, order = _called_in_order(model, x)
    loss_fn(out, y).backward()
    return _norms(order)


@PITFALLS.variant("layer_gradient_norms", "stale-gradients-not-cleared")
def layer_gradient_norms_without_zero_grad(model, x, y, loss_fn):
    out, order = _called_in_order(model, x)
    loss_fn(out, y).backward()
    return _norms(order)


@PITFALLS.variant("layer_gradient_norms", "norms-in-registration-order")
def layer_gradient_norms_registration_order(model, x, y, loss_fn):
    model.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    return _norms([m for m in model.modules() if isinstance(m, _WEIGHTED)])


# ---- make_mlp ---------------------------------------------------------------------------------------

class ResidualLayer(nn.Module):
    """x + relu(linear(x)): the identity path carries the gradient past the layer unchanged."""

    def __init__(self, width):
        super().__init__()
        self.linear = nn.Linear(width, width)
        self.relu = nn.ReLU()

    def forward(self, x):
        return x + self.relu(self.linear(x))


def _plain_layers(depth, width):
    layers = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.ReLU()]
    return layers


def make_mlp(depth, width, residual):
    """`depth` layers of nn.Linear(width, width), each followed by ReLU; with residual=True each
    layer computes x + relu(linear(x)). Maps (B, width) to (B, width)."""
    if residual:
        return nn.Sequential(*[ResidualLayer(width) for _ in range(depth)])
    return nn.Sequential(*_plain_layers(depth, width))


# The variants below never call make_mlp by name: when the oracle runs one through the harness it
# stands in the namespace under that very name.

class _ReluAfterAdd(ResidualLayer):
    def forward(self, x):
        return self.relu(x + self.linear(x))


@PITFALLS.variant("make_mlp", "relu-after-add")
def make_mlp_relu_after_add(depth, width, residual):
    if residual:
        return nn.Sequential(*[_ReluAfterAdd(width) for _ in range(depth)])
    return nn.Sequential(*_plain_layers(depth, width))


@PITFALLS.variant("make_mlp", "missing-last-relu")
def make_mlp_without_last_relu(depth, width, residual):
    if residual:
        return nn.Sequential(*[ResidualLayer(width) for _ in range(depth)])
    return nn.Sequential(*_plain_layers(depth, width)[:-1])
