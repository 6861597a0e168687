"""q03_optimizers: reference answers and the classic mistakes as code. Never leaves the instructor.

Every update rule takes and returns float64 numpy arrays (new ones: nothing is changed in place).
The references ARE torch.optim: each builds the torch optimizer, loads the state it is given (the
momentum buffer, the sums, the moments and the step count) into it, sets the gradient and calls
optimizer.step() once. So the checks, which run the rule for 100 steps through
autograder/harnesses/q03_optimizers.py (run_updates: the returned state is fed back every step),
compare the student's trajectory with torch.optim itself, in the trusted process.
`torch_trajectory` runs torch.optim over a whole run in one go (tests/ proves both agree). The
pitfall variants are NumPy, each with one classic mistake.
"""
import numpy as np
import torch

from autograder.labels.q03_optimizers import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)

# adamw_update often calls adam_update, momentum_update sgd_update, and so on.
STANDINS = ("sgd_update", "momentum_update", "adagrad_update", "rmsprop_update", "adam_update")


def _f(a):
    return np.array(a, dtype=np.float64)   # a copy


def _t(a):
    return torch.tensor(_f(a), dtype=torch.float64)


def _torch_step(make, w, g, state):
    """One optimizer.step() of the optimizer `make(params)` from weights w, gradient g and the
    given per-parameter state (torch's own names); returns the new weights and state as arrays."""
    p = torch.nn.Parameter(_t(w))
    opt = make([p])
    opt.state[p] = {k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in state.items()}
    p.grad = _t(g)
    opt.step()
    new = opt.state[p]
    return p.detach().numpy().copy(), {k: v.detach().numpy().copy() for k, v in new.items()
                                       if isinstance(v, torch.Tensor) and v.ndim > 0}


def _step_count(t):
    return torch.tensor(float(t))


# One torch.optim step costs about a millisecond, and a check runs 100 of them, once per
# submission graded in the session: remember the answers (the same inputs give the same step).
_MEMO: dict = {}


def _key(value):
    if isinstance(value, np.ndarray):
        return (value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, torch.Tensor):
        return _key(value.detach().numpy())
    if isinstance(value, (tuple, list)):
        return tuple(_key(v) for v in value)
    return repr(value)


def _memo(fn):
    import functools

    @functools.wraps(fn)
    def remembered(*args, **kwargs):
        key = (fn.__name__, _key(args), _key(sorted(kwargs.items())))
        if key not in _MEMO:
            if len(_MEMO) > 100_000:
                _MEMO.clear()
            _MEMO[key] = fn(*args, **kwargs)
        out = _MEMO[key]
        return tuple(np.array(a) for a in out) if isinstance(out, tuple) else np.array(out)
    return remembered


# ---- sgd_update ---------------------------------------------------------------------------------

@_memo
def sgd_update(w, g, lr):
    """torch.optim.SGD(lr=lr), one step."""
    return _torch_step(lambda ps: torch.optim.SGD(ps, lr=lr), w, g, {})[0]


# ---- momentum_update ---------------------------------------------------------------------------------

@_memo
def momentum_update(w, g, v, lr, momentum=0.9, nesterov=False):
    """torch.optim.SGD with momentum (dampening 0), one step; v is torch's momentum buffer
    (zeros_like(w) at the start: torch's first step sets the buffer to g, which momentum * 0 + g
    is). Returns (w, v)."""
    w_new, state = _torch_step(
        lambda ps: torch.optim.SGD(ps, lr=lr, momentum=momentum, nesterov=nesterov), w, g,
        {"momentum_buffer": _t(v)})
    return w_new, state["momentum_buffer"]


def _momentum(w, g, v, lr, momentum, nesterov):
    # variants call this, never the public name (in a harness trace a variant takes that name)
    g = _f(g)
    v = momentum * _f(v) + g
    step = g + momentum * v if nesterov else v
    return _f(w) - lr * step, v


@PITFALLS.variant("momentum_update", "momentum-dampened")
def momentum_update_dampened(w, g, v, lr, momentum=0.9, nesterov=False):
    g = _f(g)
    v = momentum * _f(v) + (1 - momentum) * g
    step = g + momentum * v if nesterov else v
    return _f(w) - lr * step, v


@PITFALLS.variant("momentum_update", "nesterov-wrong")
def momentum_update_nesterov_ignored(w, g, v, lr, momentum=0.9, nesterov=False):
    return _momentum(w, g, v, lr, momentum, False)


@PITFALLS.variant("momentum_update", "nesterov-wrong")
def momentum_update_nesterov_old_velocity(w, g, v, lr, momentum=0.9, nesterov=False):
    g, v_old = _f(g), _f(v)
    v = momentum * v_old + g
    step = g + momentum * v_old if nesterov else v
    return _f(w) - lr * step, v


@PITFALLS.variant("momentum_update", "nesterov-wrong")
def momentum_update_nesterov_momentum_twice(w, g, v, lr, momentum=0.9, nesterov=False):
    g = _f(g)
    v = momentum * _f(v) + g
    step = (1 + momentum) * v if nesterov else v
    return _f(w) - lr * step, v


# ---- adagrad_update ---------------------------------------------------------------------------------

@_memo
def adagrad_update(w, g, s, lr, eps=1e-10):
    """torch.optim.Adagrad (no lr decay, accumulator from 0), one step; s is the sum of squared
    gradients. Returns (w, s)."""
    w_new, state = _torch_step(lambda ps: torch.optim.Adagrad(ps, lr=lr, eps=eps), w, g,
                               {"sum": _t(s), "step": _step_count(0)})
    return w_new, state["sum"]


@PITFALLS.variant("adagrad_update", "eps-inside-sqrt")
def adagrad_update_eps_inside(w, g, s, lr, eps=1e-10):
    g = _f(g)
    s = _f(s) + g * g
    return _f(w) - lr * g / np.sqrt(s + eps), s


# ---- rmsprop_update ---------------------------------------------------------------------------------

@_memo
def rmsprop_update(w, g, s, lr, alpha=0.99, eps=1e-8):
    """torch.optim.RMSprop (not centered, no momentum), one step; s is the running average of
    squared gradients. Returns (w, s)."""
    w_new, state = _torch_step(lambda ps: torch.optim.RMSprop(ps, lr=lr, alpha=alpha, eps=eps), w, g,
                               {"square_avg": _t(s), "step": _step_count(0)})
    return w_new, state["square_avg"]


@PITFALLS.variant("rmsprop_update", "rmsprop-no-ema")
def rmsprop_update_sum(w, g, s, lr, alpha=0.99, eps=1e-8):
    g = _f(g)
    s = _f(s) + g * g
    return _f(w) - lr * g / (np.sqrt(s) + eps), s


@PITFALLS.variant("rmsprop_update", "rmsprop-no-ema")
def rmsprop_update_last_gradient_only(w, g, s, lr, alpha=0.99, eps=1e-8):
    g = _f(g)
    s = g * g
    return _f(w) - lr * g / (np.sqrt(s) + eps), s


@PITFALLS.variant("rmsprop_update", "rmsprop-no-ema")
def rmsprop_update_missing_one_minus_alpha(w, g, s, lr, alpha=0.99, eps=1e-8):
    g = _f(g)
    s = alpha * _f(s) + g * g
    return _f(w) - lr * g / (np.sqrt(s) + eps), s


@PITFALLS.variant("rmsprop_update", "eps-inside-sqrt")
def rmsprop_update_eps_inside(w, g, s, lr, alpha=0.99, eps=1e-8):
    g = _f(g)
    s = alpha * _f(s) + (1 - alpha) * g * g
    return _f(w) - lr * g / np.sqrt(s + eps), s


# ---- adam_update ---------------------------------------------------------------------------------

def _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=0.0, decoupled=0.0, correct=(True, True),
          t_shift=0, eps_inside=False, eps_hat=False):
    """Adam as torch computes it, with switches for the classic mistakes."""
    w, g = _f(w), _f(g)
    if decoupled:
        w = w * (1 - lr * decoupled)
    if l2:
        g = g + l2 * w
    m = beta1 * _f(m) + (1 - beta1) * g
    v = beta2 * _f(v) + (1 - beta2) * g * g
    bc1 = 1 - beta1 ** (t + t_shift) if correct[0] else 1.0
    bc2 = 1 - beta2 ** (t + t_shift) if correct[1] else 1.0
    if eps_inside:
        denom = np.sqrt(v / bc2 + eps)
    elif eps_hat:  # the corrections folded into the step size: eps lands on the uncorrected sqrt(v)
        return w - (lr * np.sqrt(bc2) / bc1) * m / (np.sqrt(v) + eps), m, v
    else:
        denom = np.sqrt(v) / np.sqrt(bc2) + eps
    return w - (lr / bc1) * m / denom, m, v


def _torch_adam(cls, w, g, m, v, t, lr, beta1, beta2, eps, weight_decay):
    w_new, state = _torch_step(
        lambda ps: cls(ps, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay), w, g,
        {"step": _step_count(t - 1), "exp_avg": _t(m), "exp_avg_sq": _t(v)})
    return w_new, state["exp_avg"], state["exp_avg_sq"]


@_memo
def adam_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    """torch.optim.Adam (weight decay as L2: g + weight_decay * w), step number t (1-based);
    m and v are the first and second moment averages, zeros at the start. Returns (w, m, v)."""
    return _torch_adam(torch.optim.Adam, w, g, m, v, t, lr, beta1, beta2, eps, weight_decay)


@PITFALLS.variant("adam_update", "adam-no-bias-correction")
def adam_update_uncorrected(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay, correct=(False, False))


@PITFALLS.variant("adam_update", "adam-no-bias-correction")
def adam_update_only_first_moment_corrected(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                                            weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay, correct=(True, False))


@PITFALLS.variant("adam_update", "adam-no-bias-correction")
def adam_update_only_second_moment_corrected(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                                             weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay, correct=(False, True))


@PITFALLS.variant("adam_update", "eps-inside-sqrt")
def adam_update_eps_inside(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay, eps_inside=True)


@PITFALLS.variant("adam_update", "adam-eps-hat")
def adam_update_folded_corrections(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                                   weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay, eps_hat=True)


@PITFALLS.variant("adam_update", "adam-decoupled-decay")
def adam_update_decoupled(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, decoupled=weight_decay)


@PITFALLS.variant("adam_update", "adam-decoupled-decay")
def adam_update_decayed_after_the_step(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                                       weight_decay=0.0):
    w_new, m, v = _adam(w, g, m, v, t, lr, beta1, beta2, eps)
    return w_new * (1 - lr * weight_decay), m, v


@PITFALLS.variant("adam_update", "adam-step-zero-based")
def adam_update_t_plus_one(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay, t_shift=1)


# ---- adamw_update ---------------------------------------------------------------------------------

@_memo
def adamw_update(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    """torch.optim.AdamW (decoupled decay: w * (1 - lr * weight_decay) first), step number t."""
    return _torch_adam(torch.optim.AdamW, w, g, m, v, t, lr, beta1, beta2, eps, weight_decay)


@PITFALLS.variant("adamw_update", "adamw-coupled-decay")
def adamw_update_coupled(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, l2=weight_decay)


@PITFALLS.variant("adamw_update", "eps-inside-sqrt")
def adamw_update_eps_inside(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, decoupled=weight_decay, eps_inside=True)


@PITFALLS.variant("adamw_update", "adam-eps-hat")
def adamw_update_folded_corrections(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8,
                                    weight_decay=0.01):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, decoupled=weight_decay, eps_hat=True)


@PITFALLS.variant("adamw_update", "adam-no-bias-correction")
def adamw_update_uncorrected(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, decoupled=weight_decay, correct=(False, False))


@PITFALLS.variant("adamw_update", "adam-step-zero-based")
def adamw_update_t_plus_one(w, g, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
    return _adam(w, g, m, v, t, lr, beta1, beta2, eps, decoupled=weight_decay, t_shift=1)


# ---- optimizer_state_floats ---------------------------------------------------------------------------

def optimizer_state_floats(n_params, name):
    """Floats of optimizer state for n_params parameters: none for SGD, one buffer for momentum,
    RMSProp (and Adagrad), two moments for Adam and AdamW (their step counter is not counted)."""
    per_param = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adagrad": 1, "adam": 2, "adamw": 2}
    return per_param[name.lower()] * int(n_params)


# ---- torch.optim itself, for the checks (trusted process only) ------------------------------------

DEFAULTS = {
    "sgd": {},
    "momentum": {"momentum": 0.9, "nesterov": False},
    "adagrad": {"eps": 1e-10},
    "rmsprop": {"alpha": 0.99, "eps": 1e-8},
    "adam": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
    "adamw": {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.01},
}


def _torch_optimizer(rule, params, kw):
    lr = kw["lr"]
    if rule == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if rule == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=kw["momentum"], nesterov=kw["nesterov"])
    if rule == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=kw["eps"])
    if rule == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=kw["alpha"], eps=kw["eps"])
    cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[rule]
    return cls(params, lr=lr, betas=(kw["beta1"], kw["beta2"]), eps=kw["eps"],
               weight_decay=kw["weight_decay"])


def torch_trajectory(rule, w0, grads, kwargs=None, A=None):
    """The weights torch.optim gives for the same run as harnesses.q03_optimizers.run_updates:
    (steps + 1, d), row 0 = w0; the gradient at step t is grads[t] (+ A @ w). The catalogue's
    defaults fill the hyperparameters kwargs leaves out (torch's SGD momentum default differs)."""
    kw = {**DEFAULTS[rule], **(kwargs or {})}
    p = torch.tensor(np.asarray(w0, dtype=np.float64), requires_grad=True)
    opt = _torch_optimizer(rule, [p], kw)
    A_t = None if A is None else torch.as_tensor(np.asarray(A, dtype=np.float64))
    out = [p.detach().clone()]
    for t in range(len(grads)):
        g = torch.as_tensor(np.asarray(grads[t], dtype=np.float64)).clone()
        if A_t is not None:
            g = g + A_t @ p.detach()
        p.grad = g
        opt.step()
        out.append(p.detach().clone())
    return torch.stack(out).numpy()
