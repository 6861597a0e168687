"""q10 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function.
The notebook's setup cell did `import numpy as np`, `import torch`, `from torch import nn` and
`import matplotlib.pyplot as plt` (no torch.nn.functional: its activations are off limits here);
sources that use `math` import it themselves.
"""

MUTANTS = [
    ("unstable-sigmoid", "sigmoid", '''
def sigmoid(x):
    ex = torch.exp(x)
    return ex / (1 + ex)
'''),
    ("sigmoid-grad-uses-output-as-input", "sigmoid_grad", '''
def sigmoid_grad(x):
    return x * (1 - x)          # sigma'(x) = sigma(x)(1 - sigma(x))
'''),
    ("tanh-grad-uses-output-as-input", "tanh_grad", '''
def tanh_grad(x):
    return 1 - x ** 2
'''),
    ("gelu-approx-for-exact", "gelu", '''
import math
def gelu(x):
    return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
'''),
    ("counts-zero-activations", "dead_relu_fraction", '''
def dead_relu_fraction(model, x):
    acts = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: acts.append(out.detach()))
             for m in model.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    zeros = sum((a == 0).sum().item() for a in acts)
    total = sum(a.numel() for a in acts)
    return zeros / total
'''),
    ("forbidden-api", "sigmoid", '''
def sigmoid(x):
    return torch.sigmoid(x)
'''),
    ("forbidden-api", "tanh_grad", '''
def tanh_grad(x):
    x = x.detach().clone().requires_grad_(True)
    torch.tanh(x).sum().backward()          # let autograd do it
    return x.grad
'''),
    ("unstable-tanh", "tanh", '''
def tanh(x):
    return (torch.exp(x) - torch.exp(-x)) / (torch.exp(x) + torch.exp(-x))
'''),
    ("relu-grad-one-at-zero", "relu_grad", '''
def relu_grad(x):
    return (x >= 0).double()
'''),
    ("gelu-grad-product-rule", "gelu_grad", '''
import math
def gelu_grad(x):
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))
'''),
    ("hooks-left-behind", "dead_relu_fraction", '''
def dead_relu_fraction(model, x):
    outs = []
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda mod, inp, out: outs.append(out.detach().clone()))
    with torch.no_grad():
        model(x)
    dead = sum(int((o == 0).all(dim=0).sum()) for o in outs)
    return dead / sum(o.shape[1] for o in outs)
'''),
    ("forbidden-api", "sigmoid", '''
def sigmoid(x):
    return x.sigmoid()                      # the tensor-method form of the same shortcut
'''),
    ("unstable-sigmoid", "sigmoid_grad", '''
def sigmoid_grad(x):
    return torch.exp(-x) / (1 + torch.exp(-x)) ** 2
'''),
    ("averaged-layer-fractions", "dead_relu_fraction", '''
def dead_relu_fraction(model, x):
    fractions = []
    def hook(module, inp, out):
        fractions.append((out == 0).all(dim=0).float().mean().item())
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    with torch.no_grad():
        model(x)
    for h in handles:
        h.remove()
    return sum(fractions) / len(fractions)
'''),
]

ALTERNATIVES = [
    # NumPy on the tensor's values: exp(-|x|) underflows to 0 at |x| = 1e4, which is harmless
    ("sigmoid", '''
def sigmoid(x):
    a = x.detach().numpy()
    e = np.exp(-np.abs(a))
    return torch.from_numpy(np.where(a >= 0, 1 / (1 + e), e / (1 + e)))
'''),
    ("sigmoid", '''
def sigmoid(x):
    # both branches are computed; the one that overflows is never selected
    return torch.where(x >= 0, 1 / (1 + torch.exp(-x)), torch.exp(x) / (1 + torch.exp(x)))
'''),
    ("sigmoid", '''
def sigmoid(x):
    return 1.0 / (1.0 + torch.exp(-x))     # exp(-x) = inf gives 1 / inf = 0: the right limit
'''),
    ("sigmoid", '''
def sigmoid(x):
    return 0.5 * (1 + tanh(x / 2))
'''),
    ("tanh", '''
def tanh(x):
    return 2 * sigmoid(2 * x) - 1
'''),
    ("tanh", '''
def tanh(x):
    e = torch.exp(-2 * x.abs())
    return torch.sign(x) * (1 - e) / (1 + e)
'''),
    ("relu", '''
def relu(x):
    return x.clamp(min=0)
'''),
    ("relu", '''
def relu(x):
    return torch.maximum(x, torch.zeros_like(x))
'''),
    ("relu", '''
def relu(x):
    return x * (x > 0)
'''),
    ("gelu", '''
import math
def gelu(x):
    return 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
'''),
    ("gelu", '''
def gelu(x):
    return x * torch.special.ndtr(x)
'''),
    ("gelu_tanh", '''
import math
def gelu_tanh(x):
    inner = math.sqrt(2 / math.pi) * (x + 0.044715 * torch.pow(x, 3))
    return 0.5 * x * (1 + tanh(inner))
'''),
    ("gelu_tanh", '''
import math
def gelu_tanh(x):
    # 0.5 * (1 + tanh(u)) == sigmoid(2u)
    u = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    return x * sigmoid(2 * u)
'''),
    ("silu", '''
def silu(x):
    return x * sigmoid(x)
'''),
    ("silu", '''
def silu(x):
    return x / (1 + torch.exp(-x))
'''),
    ("sigmoid_grad", '''
def sigmoid_grad(x):
    s = sigmoid(x)
    return s * (1 - s)
'''),
    ("sigmoid_grad", '''
def sigmoid_grad(x):
    return sigmoid(x) * sigmoid(-x)
'''),
    ("sigmoid_grad", '''
def sigmoid_grad(x):
    e = torch.exp(-torch.abs(x))
    return e / (1 + e) ** 2
'''),
    ("tanh_grad", '''
def tanh_grad(x):
    return 1 - tanh(x) ** 2
'''),
    ("tanh_grad", '''
def tanh_grad(x):
    return 1 / torch.cosh(x) ** 2
'''),
    ("relu_grad", '''
def relu_grad(x):
    return torch.where(x > 0, 1.0, 0.0).to(x.dtype)
'''),
    ("relu_grad", '''
def relu_grad(x):
    return torch.heaviside(x, torch.zeros_like(x))
'''),
    ("gelu_grad", '''
import math
def gelu_grad(x):
    cdf = 0.5 * (1 + torch.erf(x / math.sqrt(2)))
    pdf = torch.exp(-x ** 2 / 2) / math.sqrt(2 * math.pi)
    return cdf + x * pdf
'''),
    ("gelu_grad", '''
import math
def gelu_grad(x):
    return torch.special.ndtr(x) + x * torch.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
'''),
    ("dead_relu_fraction", '''
def dead_relu_fraction(model, x):
    alive = []
    def hook(module, inputs, output):
        alive.append((output > 0).any(dim=0).flatten())
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in handles:
            h.remove()
    alive = torch.cat(alive)
    return 1.0 - alive.float().mean().item()
'''),
    ("dead_relu_fraction", '''
def dead_relu_fraction(model, x):
    dead, total = 0, 0
    outputs = {}
    for name, m in model.named_modules():
        if isinstance(m, nn.ReLU):
            m.register_forward_hook(lambda mod, i, o, name=name: outputs.__setitem__(name, o.clone()))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(x)
    model.train(was_training)
    for m in model.modules():
        m._forward_hooks.clear()
    for out in outputs.values():
        never = (out.reshape(len(x), -1) == 0).all(dim=0)
        dead += int(never.sum())
        total += never.numel()
    return dead / total
'''),
]
