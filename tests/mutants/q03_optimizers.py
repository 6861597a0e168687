"""q03 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function. The
notebook's setup cell does `import numpy as np` and `import matplotlib.pyplot as plt`; a source that
needs anything else (torch) imports it itself. The state a rule returns is its own: the check feeds
it back, so lr-scaled and negated velocities are correct alternatives.
"""

MUTANTS = [
    ("momentum-dampened", "momentum_update", '''
def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    v_new = momentum * v + (1.0 - momentum) * g     # an exponential moving average
    if nesterov:
        return w - lr * (g + momentum * v_new), v_new
    return w - lr * v_new, v_new
'''),
    ("nesterov-wrong", "momentum_update", '''
def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    v_prev = v
    v = momentum * v + g
    if nesterov:
        w = w - lr * (g + momentum * v_prev)
    else:
        w = w - lr * v
    return w, v
'''),
    ("rmsprop-no-ema", "rmsprop_update", '''
def rmsprop_update(w, g, s, lr, alpha=0.99, eps=1e-8):
    s = s + g ** 2
    w = w - lr * g / (np.sqrt(s) + eps)
    return w, s
'''),
    ("eps-inside-sqrt", "rmsprop_update", '''
def rmsprop_update(w, g, s, lr, alpha=0.99, eps=1e-8):
    cache = alpha * s + (1 - alpha) * g * g
    return w - lr * g / np.sqrt(cache + eps), cache
'''),
    ("eps-inside-sqrt", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / np.sqrt(v_hat + eps), m, v
'''),
    ("adam-no-bias-correction", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    if weight_decay:
        g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * (g * g)
    w = w - lr * m / (np.sqrt(v) + eps)
    return w, m, v
'''),
    ("adam-decoupled-decay", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    w = w - lr * weight_decay * w          # decay the weights directly
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
'''),
    ("adam-step-zero-based", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    step = t + 1                           # "steps start at 0"
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    m_hat = m / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
'''),
    ("adamw-coupled-decay", "adamw_update", '''
def adamw_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
'''),
    ("forbidden-api", "sgd_update", '''
import torch

def sgd_update(w, g, lr):
    p = torch.nn.Parameter(torch.tensor(w))
    p.grad = torch.tensor(g)
    torch.optim.SGD([p], lr=lr).step()
    return p.detach().numpy()
'''),
    ("mutates-input", "sgd_update", '''
def sgd_update(w, g, lr):
    w -= lr * g
    return w
'''),
    ("eps-inside-sqrt", "adagrad_update", '''
def adagrad_update(w, g, s, lr, eps=1e-10):
    s = s + g * g
    return w - lr * g / np.sqrt(s + eps), s
'''),
    ("eps-inside-sqrt", "adamw_update", '''
def adamw_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    w = w * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return w - lr * (m / (1 - beta1 ** t)) / np.sqrt(v / (1 - beta2 ** t) + eps), m, v
'''),
    # only the second moment corrected
    ("adam-no-bias-correction", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return w - lr * m / (np.sqrt(v / (1 - beta2 ** t)) + eps), m, v
'''),
    # the weights shrunk after the Adam step
    ("adam-decoupled-decay", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    w = w - lr * (m / (1 - beta1 ** t)) / (np.sqrt(v / (1 - beta2 ** t)) + eps)
    return w * (1 - lr * weight_decay), m, v
'''),
    # the state updated in place
    ("mutates-input", "momentum_update", '''
def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    v *= momentum
    v += g
    return w - lr * (g + momentum * v if nesterov else v), v
'''),
    # the Adam paper's "efficient" form: corrections folded into the step size, eps left as it is
    ("adam-eps-hat", "adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    alpha_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    return w - alpha_t * m / (np.sqrt(v) + eps), m, v
'''),
    ("adam-eps-hat", "adamw_update", '''
def adamw_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    w = w * (1 - lr * weight_decay)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    alpha_t = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    return w - alpha_t * m / (np.sqrt(v) + eps), m, v
'''),
    # torch.optim imported by name, its state loaded by hand: right values, still forbidden
    ("forbidden-api", "adam_update", '''
import torch
from torch.optim import Adam

def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    p = torch.nn.Parameter(torch.tensor(w))
    opt = Adam([p], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    opt.state[p] = {"step": torch.tensor(float(t - 1)), "exp_avg": torch.tensor(m),
                    "exp_avg_sq": torch.tensor(v)}
    p.grad = torch.tensor(g)
    opt.step()
    state = opt.state[p]
    return p.detach().numpy().copy(), state["exp_avg"].numpy().copy(), state["exp_avg_sq"].numpy().copy()
'''),
]

ALTERNATIVES = [
    ("sgd_update", '''
def sgd_update(w, g, lr):
    return np.subtract(w, lr * g)
'''),
    ("sgd_update", '''
import torch

def sgd_update(w, g, lr):
    return (torch.from_numpy(w) - lr * torch.from_numpy(g)).numpy()
'''),
    # the lr-scaled buffer (catalogue: must pass)
    ("momentum_update", '''
def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    v = momentum * v + lr * g
    if nesterov:
        return w - (lr * g + momentum * v), v
    return w - v, v
'''),
    # CS231n / Keras: a negative, lr-scaled velocity; CS231n's Nesterov form
    ("momentum_update", '''
def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    v_prev = v
    v = momentum * v - lr * g
    if nesterov:
        return w - momentum * v_prev + (1 + momentum) * v, v
    return w + v, v
'''),
    ("momentum_update", '''
import torch

def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    g, buf = torch.from_numpy(g), torch.from_numpy(v)
    buf = buf.mul(momentum).add(g)
    d = g.add(buf, alpha=momentum) if nesterov else buf
    return torch.from_numpy(w).add(d, alpha=-lr).numpy(), buf.numpy()
'''),
    ("adagrad_update", '''
def adagrad_update(w, g, s, lr, eps=1e-10):
    cache = s + g ** 2
    return w - lr * g / (cache ** 0.5 + eps), cache
'''),
    ("adagrad_update", '''
import torch

def adagrad_update(w, g, s, lr, eps=1e-10):
    g, s = torch.from_numpy(g), torch.from_numpy(s)
    s = s.addcmul(g, g, value=1)
    std = s.sqrt().add(eps)
    return torch.from_numpy(w).addcdiv(g, std, value=-lr).numpy(), s.numpy()
'''),
    # CS231n's rmsprop
    ("rmsprop_update", '''
def rmsprop_update(w, g, s, lr, alpha=0.99, eps=1e-8):
    decay_rate = alpha
    cache = decay_rate * s + (1 - decay_rate) * g ** 2
    next_w = w - lr * g / (np.sqrt(cache) + eps)
    return next_w, cache
'''),
    ("rmsprop_update", '''
import torch

def rmsprop_update(w, g, s, lr, alpha=0.99, eps=1e-8):
    g, sq = torch.from_numpy(g), torch.from_numpy(s)
    sq = sq.mul(alpha).addcmul(g, g, value=1 - alpha)
    avg = sq.sqrt().add(eps)
    return torch.from_numpy(w).addcdiv(g, avg, value=-lr).numpy(), sq.numpy()
'''),
    # CS231n's adam (bias-corrected moments)
    ("adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    dx = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * dx
    mt = m / (1 - beta1 ** t)
    v = beta2 * v + (1 - beta2) * (dx ** 2)
    vt = v / (1 - beta2 ** t)
    next_w = w - lr * mt / (np.sqrt(vt) + eps)
    return next_w, m, v
'''),
    # torch's own arithmetic (lerp, step size lr / bias_correction1)
    ("adam_update", '''
import math
import torch

def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    p, grad = torch.from_numpy(w), torch.from_numpy(g)
    if weight_decay != 0:
        grad = grad.add(p, alpha=weight_decay)
    exp_avg = torch.from_numpy(m).lerp(grad, 1 - beta1)
    exp_avg_sq = torch.from_numpy(v).mul(beta2).addcmul(grad, grad, value=1 - beta2)
    step_size = lr / (1 - beta1 ** t)
    denom = exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** t) + eps
    return p.addcdiv(exp_avg, denom, value=-step_size).numpy(), exp_avg.numpy(), exp_avg_sq.numpy()
'''),
    # the folded form done right: eps scaled by sqrt(1 - beta2**t) along with sqrt(v)
    ("adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    g = g + weight_decay * w
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g ** 2
    root_bc2 = np.sqrt(1 - beta2 ** t)
    alpha_t = lr * root_bc2 / (1 - beta1 ** t)
    return w - alpha_t * m / (np.sqrt(v) + eps * root_bc2), m, v
'''),
    # the AdamW paper's form: the decay term added to the Adam step
    ("adamw_update", '''
def adamw_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return w - lr * (m_hat / (np.sqrt(v_hat) + eps) + weight_decay * w), m, v
'''),
    # shrink, then reuse the notebook's own adam_update without decay
    ("adamw_update", '''
def adamw_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    w = w * (1 - lr * weight_decay)
    return adam_update(w, g, m, v, t, lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=0.0)
'''),
    ("optimizer_state_floats", '''
def optimizer_state_floats(n_params, name):
    if name == "sgd":
        return 0
    if name in ("momentum", "rmsprop"):
        return n_params
    if name in ("adam", "adamw"):
        return 2 * n_params
    raise ValueError(name)
'''),
    ("optimizer_state_floats", '''
def optimizer_state_floats(n_params, name):
    buffers = {"sgd": [], "momentum": ["momentum_buffer"], "rmsprop": ["square_avg"],
               "adam": ["exp_avg", "exp_avg_sq"], "adamw": ["exp_avg", "exp_avg_sq"]}
    return len(buffers[name]) * n_params
'''),

    # torch's lerp written as m + (1 - beta1) * (g - m)
    ("adam_update", '''
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    if weight_decay != 0:
        g = g + weight_decay * w
    m = m + (1 - beta1) * (g - m)
    v = beta2 * v + (1 - beta2) * np.square(g)
    bc1, bc2 = 1 - beta1 ** t, 1 - beta2 ** t
    denom = np.sqrt(v) / np.sqrt(bc2) + eps
    return w - (lr / bc1) * m / denom, m, v
'''),
]
