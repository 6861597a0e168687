"""q10_activations: reference answers and the classic mistakes as code. Never leaves the instructor.

The ground truth is torch's: the activations are torch's own (torch.sigmoid, torch.tanh,
torch.relu, F.gelu exact and tanh-approximated, F.silu) and the derivatives are autograd's on them.
This module runs on the trusted side only, where nothing is forbidden; the student's functions
must do without these (FORBIDDEN, in the labels). The pitfall variants are the classic hand-written
mistakes; those that build on another activation call the reference's (torch's) one.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from autograder.labels.q10_activations import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# the derivative functions and silu / gelu_tanh may build on these
STANDINS = ("sigmoid", "tanh", "relu", "gelu")

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TANH_C = math.sqrt(2.0 / math.pi)


def _t(x):
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else x.double()
    return torch.as_tensor(x, dtype=torch.float64)


def _autograd(f, x):
    """d f / dx elementwise, by autograd: the gradient of sum(f(x))."""
    x = _t(x).detach().clone().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(f(x).sum(), x)
    return grad


# ---- activations ----------------------------------------------------------------------------------

def sigmoid(x):
    return torch.sigmoid(_t(x))


@PITFALLS.variant("sigmoid", "unstable-sigmoid")
def sigmoid_exp_over_one_plus_exp(x):
    x = _t(x)
    return torch.exp(x) / (1 + torch.exp(x))


def tanh(x):
    return torch.tanh(_t(x))


@PITFALLS.variant("tanh", "unstable-tanh")
def tanh_from_exponentials(x):
    x = _t(x)
    return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))


@PITFALLS.variant("tanh", "unstable-tanh")
def tanh_from_exp_2x(x):
    x = _t(x)
    e = torch.exp(2 * x)
    return (e - 1) / (e + 1)


def relu(x):
    return torch.relu(_t(x))


def gelu(x):
    """Exact GELU, x * Phi(x)."""
    return F.gelu(_t(x))


@PITFALLS.variant("gelu", "gelu-approx-for-exact")
def gelu_as_tanh_approximation(x):
    x = _t(x)
    return 0.5 * x * (1 + tanh(_TANH_C * (x + 0.044715 * x ** 3)))


@PITFALLS.variant("gelu", "gelu-approx-for-exact")
def gelu_as_sigmoid_approximation(x):
    x = _t(x)
    return x * sigmoid(1.702 * x)


def gelu_tanh(x):
    """The tanh approximation of GELU."""
    return F.gelu(_t(x), approximate="tanh")


@PITFALLS.variant("gelu_tanh", "unstable-tanh")
def gelu_tanh_inline_exponentials(x):
    x = _t(x)
    u = _TANH_C * (x + 0.044715 * x ** 3)
    return 0.5 * x * (1 + (torch.exp(2 * u) - 1) / (torch.exp(2 * u) + 1))


@PITFALLS.variant("gelu_tanh", "unstable-tanh")
def gelu_tanh_inline_sinh_cosh_ratio(x):
    x = _t(x)
    u = _TANH_C * (x + 0.044715 * x ** 3)
    return 0.5 * x * (1 + (torch.exp(u) - torch.exp(-u)) / (torch.exp(u) + torch.exp(-u)))


def silu(x):
    return F.silu(_t(x))


@PITFALLS.variant("silu", "unstable-sigmoid")
def silu_exp_over_one_plus_exp(x):
    x = _t(x)
    return x * torch.exp(x) / (1 + torch.exp(x))


# ---- derivatives: autograd on torch's activations -------------------------------------------------

def sigmoid_grad(x):
    """d sigmoid / dx at the INPUT x."""
    return _autograd(torch.sigmoid, x)


@PITFALLS.variant("sigmoid_grad", "sigmoid-grad-uses-output-as-input")
def sigmoid_grad_of_output(x):
    x = _t(x)
    return x * (1 - x)


@PITFALLS.variant("sigmoid_grad", "unstable-sigmoid")
def sigmoid_grad_exp_minus_x(x):
    x = _t(x)
    return torch.exp(-x) / (1 + torch.exp(-x)) ** 2


@PITFALLS.variant("sigmoid_grad", "unstable-sigmoid")
def sigmoid_grad_exp_x(x):
    x = _t(x)
    return torch.exp(x) / (1 + torch.exp(x)) ** 2


@PITFALLS.variant("sigmoid_grad", "unstable-sigmoid")
def sigmoid_grad_from_unstable_sigmoid(x):
    s = sigmoid_exp_over_one_plus_exp(x)
    return s * (1 - s)


def tanh_grad(x):
    """d tanh / dx at the INPUT x."""
    return _autograd(torch.tanh, x)


@PITFALLS.variant("tanh_grad", "tanh-grad-uses-output-as-input")
def tanh_grad_of_output(x):
    x = _t(x)
    return 1 - x ** 2


@PITFALLS.variant("tanh_grad", "unstable-tanh")
def tanh_grad_from_exponentials(x):
    t = tanh_from_exponentials(x)
    return 1 - t ** 2


@PITFALLS.variant("tanh_grad", "unstable-tanh")
def tanh_grad_from_exp_2x(x):
    t = tanh_from_exp_2x(x)
    return 1 - t ** 2


def relu_grad(x):
    """1 where x > 0, else 0 (autograd gives 0 at 0)."""
    return _autograd(torch.relu, x)


@PITFALLS.variant("relu_grad", "relu-grad-one-at-zero")
def relu_grad_one_at_zero(x):
    x = _t(x)
    return (x >= 0).to(x.dtype)


def _phi(x):
    return torch.exp(-0.5 * x * x) * _INV_SQRT_2PI


def _Phi(x):
    return 0.5 * torch.special.erfc(-x * _SQRT_HALF)


def gelu_grad(x):
    """d GELU / dx (exact GELU)."""
    return _autograd(F.gelu, x)


@PITFALLS.variant("gelu_grad", "gelu-approx-for-exact")
def gelu_grad_of_tanh_approximation(x):
    x = _t(x)
    u = _TANH_C * (x + 0.044715 * x ** 3)
    t = tanh(u)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * _TANH_C * (1 + 3 * 0.044715 * x ** 2)


@PITFALLS.variant("gelu_grad", "gelu-approx-for-exact")
def gelu_grad_of_sigmoid_approximation(x):
    x = _t(x)
    s = sigmoid(1.702 * x)
    return s + 1.702 * x * s * (1 - s)


@PITFALLS.variant("gelu_grad", "gelu-grad-product-rule")
def gelu_grad_cdf_only(x):
    return _Phi(_t(x))


# ---- dead_relu_fraction --------------------------------------------------------------------------

def _relu_outputs(model, x):
    """The output of every nn.ReLU module of `model` on x, each as (B, units)."""
    outs = []

    def keep(module, inputs, output):
        outs.append(output.detach().reshape(output.shape[0], -1).clone())

    handles = [m.register_forward_hook(keep) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return outs


def dead_relu_fraction(model, x):
    """The fraction of units, over all nn.ReLU modules together, that are 0 for every example of x."""
    outs = _relu_outputs(model, x)
    dead = sum(int((o == 0).all(dim=0).sum()) for o in outs)
    units = sum(o.shape[1] for o in outs)
    return dead / units


@PITFALLS.variant("dead_relu_fraction", "counts-zero-activations")
def zero_activation_fraction(model, x):
    outs = _relu_outputs(model, x)
    return sum(int((o == 0).sum()) for o in outs) / sum(o.numel() for o in outs)


@PITFALLS.variant("dead_relu_fraction", "counts-zero-activations")
def zero_activation_fraction_per_layer(model, x):
    outs = _relu_outputs(model, x)
    return sum(float((o == 0).double().mean()) for o in outs) / len(outs)


@PITFALLS.variant("dead_relu_fraction", "averaged-layer-fractions")
def dead_fraction_per_layer_averaged(model, x):
    outs = _relu_outputs(model, x)
    return sum(float((o == 0).all(dim=0).double().mean()) for o in outs) / len(outs)
