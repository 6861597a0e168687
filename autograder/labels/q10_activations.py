"""q10_activations: the functions a student writes, the mistakes its checks can name, and the
shortcuts the exercise must do without (FORBIDDEN, TENSOR_METHODS: the catalogue's rule, so they
ship with the checks).

Every function is graded through harnesses (autograder/harnesses/q10_activations.py): the
elementwise ones so that overflow warnings and tensor methods are seen, `dead_relu_fraction`
because it takes a model.
"""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("sigmoid", "tanh", "relu", "gelu", "gelu_tanh", "silu", "sigmoid_grad", "tanh_grad",
               "relu_grad", "gelu_grad", "dead_relu_fraction"),
    catalogue={
        "unstable-sigmoid": (
            "exp() of a large number overflows to inf: exp(x) / (1 + exp(x)) is inf / inf = NaN for "
            "x above about 710 (and exp(-x) / (1 + exp(-x))^2 is NaN below -710).",
            "Only ever exponentiate -|x|: with e = exp(-|x|), sigmoid(x) = 1 / (1 + e) where x >= 0 "
            "and e / (1 + e) where x < 0 (torch.where picks the branch)."),
        "sigmoid-grad-uses-output-as-input": (
            "sigmoid_grad(x) returned x * (1 - x), the formula that takes the sigmoid's OUTPUT s; "
            "this function is given the input x.",
            "Compute s = sigmoid(x) first, then return s * (1 - s)."),
        "tanh-grad-uses-output-as-input": (
            "tanh_grad(x) returned 1 - x^2, the formula that takes tanh's OUTPUT; this function is "
            "given the input x.",
            "Compute t = tanh(x) first, then return 1 - t^2."),
        "gelu-approx-for-exact": (
            "the tanh (or sigmoid) approximation of GELU was used where the exact GELU, "
            "x * Phi(x) with the normal CDF Phi, is asked for; they differ from it by up to 5e-4 "
            "(tanh form) or 2e-2 (x * sigmoid(1.702 x)).",
            "Phi(x) = 0.5 * (1 + erf(x / sqrt(2))) with torch.erf; GELU'(x) = Phi(x) + x * phi(x), "
            "phi(x) = exp(-x^2 / 2) / sqrt(2 pi)."),
        "counts-zero-activations": (
            "the fraction of zero activations was counted (over every example), but a unit is dead "
            "only if it is zero for every example of the batch.",
            "For each ReLU's output (B, units), a unit is dead when (out == 0).all(dim=0); count "
            "dead units over all ReLU modules and divide by the total number of units."),
    },
    uses=("forbidden-api",),
    extra={
        "unstable-tanh": (
            "exp() of a large number overflows: (e^x - e^-x) / (e^x + e^-x) is inf / inf = NaN for "
            "|x| above about 710 (e^{2x} forms already above 355).",
            "Exponentiate only -2|x|: tanh(x) = sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|) "
            "(torch.expm1 keeps it precise near 0)."),
        "relu-grad-one-at-zero": (
            "relu_grad(0) returned 1; the exercise (like PyTorch's autograd) uses 0 at x = 0.",
            "Use (x > 0), not (x >= 0)."),
        "gelu-grad-product-rule": (
            "gelu_grad returned Phi(x) only: GELU is x * Phi(x), so the product rule adds x * phi(x).",
            "GELU'(x) = Phi(x) + x * exp(-x^2 / 2) / sqrt(2 pi)."),
        "hooks-left-behind": (
            "forward hooks were left registered on the model, so every later forward pass still "
            "calls them (and keeps appending activations to a list that is never freed).",
            "Keep the handle each register_forward_hook returns and call handle.remove() after "
            "the pass, in a `finally:` so that an exception cannot skip it."),
        "model-changed": (
            "measuring changed the model's weights; dead_relu_fraction must only observe.",
            "Run the model under torch.no_grad() and never write to its parameters."),
        "averaged-layer-fractions": (
            "the dead fractions of the ReLU layers were averaged, which weighs a narrow layer like a "
            "wide one; the fraction is over all units of all ReLU layers together.",
            "Add up the dead units of every layer and divide by the total number of units."),
    },
)


# ---- what the exercise must do without -------------------------------------------------------------

# `dead_relu_fraction` may not forbid the ReLUs: the model it is given runs nn.ReLU, which calls
# torch.nn.functional.relu and torch.relu itself.
_ACTIVATIONS_BUT_RELU = (
    "torch.sigmoid", "torch.sigmoid_", "torch.tanh", "torch.tanh_", "torch.special.expit",
    "torch.nn.functional.sigmoid", "torch.nn.functional.tanh", "torch.nn.functional.gelu",
    "torch.nn.functional.silu", "torch.nn.functional.mish", "torch.nn.functional.elu",
    "torch.nn.functional.selu", "torch.nn.functional.celu", "torch.nn.functional.leaky_relu",
    "torch.nn.functional.softplus", "torch.nn.functional.logsigmoid",
    "torch.nn.functional.hardsigmoid", "torch.nn.functional.hardswish",
    "torch.nn.functional.hardtanh", "torch.nn.functional.tanhshrink",
    "torch.nn.functional.softsign", "torch.nn.functional.softmax", "torch.softmax",
    "torch.special.softmax", "scipy.special.expit",
)
_RELUS = ("torch.relu", "torch.relu_", "torch.nn.functional.relu", "torch.nn.functional.relu_",
          "torch.nn.functional.relu6", "torch.nn.functional.threshold")
_AUTOGRAD = ("torch.autograd.grad", "torch.autograd.backward",  # Tensor.backward() calls the latter
             "torch.autograd.functional.jacobian", "torch.autograd.functional.vjp",
             "torch.autograd.functional.jvp", "torch.autograd.functional.vhp",
             "torch.func.grad", "torch.func.grad_and_value", "torch.func.vjp", "torch.func.jvp",
             "torch.func.jacrev", "torch.func.jacfwd")
_ACTIVATIONS = _ACTIVATIONS_BUT_RELU + _RELUS
ELEMENTWISE = ("sigmoid", "tanh", "relu", "gelu", "gelu_tanh", "silu")
DERIVATIVES = ("sigmoid_grad", "tanh_grad", "relu_grad", "gelu_grad")
FORBIDDEN = {
    **{f: _ACTIVATIONS for f in ELEMENTWISE},
    **{f: _ACTIVATIONS + _AUTOGRAD for f in DERIVATIVES},
    "dead_relu_fraction": _ACTIVATIONS_BUT_RELU,
}
# What a tripwire on a module attribute cannot see: the same activations as tensor methods
# (x.sigmoid(), x.tanh_()). The elementwise harness watches these on torch.Tensor during the call.
TENSOR_METHODS = ("sigmoid", "sigmoid_", "tanh", "tanh_", "relu", "relu_")

# The label an overflow warning earns where the values still came out right.
OVERFLOW_LABEL = {"sigmoid": "unstable-sigmoid", "silu": "unstable-sigmoid",
                  "sigmoid_grad": "unstable-sigmoid", "tanh": "unstable-tanh",
                  "tanh_grad": "unstable-tanh", "gelu_tanh": "unstable-tanh"}
