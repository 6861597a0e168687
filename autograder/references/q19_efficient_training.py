"""q19_efficient_training: reference answers and the classic mistakes as code. Never leaves the instructor.

`train_with_accumulation`, `LoRALinear` and `DynamicLossScaler` take or are objects: their checks
run a harness of autograder/harnesses/q19_efficient_training.py on the student's namespace and on
the references' (a variant, for a class a factory with the class's signature, is run through the
same harness in place of the reference). The scaler follows torch.amp.GradScaler (step() followed
by update()); the tests compare the two over scripted steps with planted inf and NaN gradients.
"""
import math

import torch
from torch import nn

from autograder.labels.q19_efficient_training import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)
# Stand-ins take and return plain data (a proxy cannot hand back a class or a module), so the
# class LoRALinear is not one: a lora_param_count that builds the adapter uses the student's.
STANDINS = ("lora_param_count",)


# ---- train_with_accumulation ----------------------------------------------------------------------

def _accumulate(model, batches, loss_fn, optimizer, accum_steps, *, scale="group", step="group",
                zero="group", leftover=True, report="mean"):
    """Gradient accumulation with one knob per classic mistake; the defaults are the right answer.

    scale: "group" (divide by the group's size), "none", "accum" (always by accum_steps)
    step / zero: "group" (once per group) or "micro" (every micro-batch)
    leftover: False drops the last, short group; "no-step" runs its backward but never steps
    report: "mean" of the group's micro losses, "sum" of them, "scaled-sum" of the divided losses
    """
    model.train()
    batches = list(batches)
    k = int(accum_steps)
    n_groups = len(batches) // k if leftover is False else math.ceil(len(batches) / k)
    losses = []
    for gi in range(n_groups):
        group = batches[gi * k:(gi + 1) * k]
        last_short = len(group) < k
        divisor = {"group": len(group), "none": 1, "accum": k}[scale]
        optimizer.zero_grad()
        micro = []
        for x, y in group:
            if zero == "micro":
                optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            (loss / divisor).backward()
            micro.append(loss.item())
            if step == "micro":
                optimizer.step()
        if step == "group" and not (last_short and leftover == "no-step"):
            optimizer.step()
        if last_short and leftover == "no-step":
            continue
        if report == "mean":
            losses.append(sum(micro) / len(micro))
        elif report == "sum":
            losses.append(sum(micro))
        else:
            losses.append(sum(v / divisor for v in micro))
    return losses


def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    """One optimizer step per group of `accum_steps` micro-batches (the last group may be shorter).

    Each micro-batch's loss is divided by the size of its group before backward(), so a step
    equals one step on the whole group with a mean loss. Returns each group's mean loss (floats).

    The ground truth is what accumulation must equal: one large-batch step per group, on the
    group's micro-batches concatenated, with the mean loss (the micro-batches have equal sizes, so
    the group's loss is also the mean of its micro-batch losses).
    """
    model.train()
    batches = list(batches)
    k = int(accum_steps)
    losses = []
    for start in range(0, len(batches), k):
        group = batches[start:start + k]
        x = torch.cat([torch.as_tensor(b[0]) for b in group])
        y = torch.cat([torch.as_tensor(b[1]) for b in group])
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.item()))
    return losses


def _accumulation_variant(label, **knobs):
    def variant(model, batches, loss_fn, optimizer, accum_steps):
        return _accumulate(model, batches, loss_fn, optimizer, accum_steps, **knobs)
    variant.__name__ = "train_with_accumulation_" + "_".join(f"{k}_{v}" for k, v in knobs.items())
    PITFALLS.variant("train_with_accumulation", label)(variant)
    return variant


_accumulation_variant("loss-not-scaled", scale="none")
_accumulation_variant("loss-not-scaled", scale="none", report="sum")
_accumulation_variant("step-every-micro-batch", step="micro")
_accumulation_variant("step-every-micro-batch", step="micro", scale="accum")
_accumulation_variant("zero-grad-every-micro-batch", zero="micro")
_accumulation_variant("zero-grad-every-micro-batch", zero="micro", scale="accum")
_accumulation_variant("leftover-dropped", leftover=False)
_accumulation_variant("leftover-dropped", leftover="no-step")
_accumulation_variant("leftover-scaled-by-accum-steps", scale="accum")
_accumulation_variant("leftover-scaled-by-accum-steps", scale="accum", report="scaled-sum")


# ---- LoRALinear -----------------------------------------------------------------------------------

class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update (alpha / r) * lora_B @ lora_A.

    lora_A (r, in_features) random, lora_B (out_features, r) zeros, so the layer starts equal to
    its base. forward(x) = base(x) + (x @ lora_A.T @ lora_B.T) * alpha / r.
    merged() -> a new nn.Linear holding W + (alpha / r) * lora_B @ lora_A and the base's bias.
    """

    # Knobs of the classic mistakes (each variant builds a subclass that sets one).
    b_init = "zeros"          # "zeros" or "randn"
    a_init = "kaiming"        # "kaiming" or "zeros"
    freeze = True
    scale_rule = "alpha/r"    # "alpha/r", "alpha", "one", "r/alpha", "alpha/sqrt(r)"
    merge_rule = "right"      # "right", "transposed", "in-place"

    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.r, self.alpha = int(r), alpha
        if self.freeze:
            for p in self.base.parameters():
                p.requires_grad_(False)
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(self.r, base.in_features, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, self.r, dtype=w.dtype))
        if self.a_init == "kaiming":
            # as loralib and peft: the Kaiming-uniform init of an nn.Linear
            nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        else:
            nn.init.zeros_(self.lora_A)
        if self.b_init == "randn":
            nn.init.normal_(self.lora_B, std=0.02)

    @property
    def scaling(self):
        return {"alpha/r": self.alpha / self.r, "alpha": self.alpha, "one": 1.0,
                "r/alpha": self.r / self.alpha,
                "alpha/sqrt(r)": self.alpha / math.sqrt(self.r)}[self.scale_rule]

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merged(self):
        delta = self.scaling * (self.lora_B @ self.lora_A)
        if self.merge_rule == "transposed":
            delta = delta.T
        if self.merge_rule == "in-place":
            with torch.no_grad():
                self.base.weight += delta
            return self.base
        base = self.base
        layer = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                          dtype=base.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(base.weight + delta)
            if base.bias is not None:
                layer.bias.copy_(base.bias)
        return layer


def _lora_variant(label, name, **knobs):
    """Register, under `label`, a factory with the class's signature that builds the adapter with
    the knobs of one mistake (the oracle runs the harness with the factory in the class's place)."""
    cls = type(name, (LoRALinear,), knobs)

    def factory(base, r, alpha):
        return cls(base, r, alpha)

    factory.__name__ = factory.__qualname__ = "make" + name
    PITFALLS.variant("LoRALinear", label)(factory)
    return factory


# Named from the harness's trace (lora_B not zero, base requiring grad, lora_A zero): their
# outputs after lora_A and lora_B are set equal the reference's.
_lora_variant("lora-b-not-zero", "_LoRAWithRandomB", b_init="randn")
_lora_variant("base-not-frozen", "_LoRAWithTrainableBase", freeze=False)
_lora_variant("lora-a-zero", "_LoRAWithZeroA", a_init="zeros")
# Reproduced exactly.
_lora_variant("merge-transposed", "_LoRAMergeTransposed", merge_rule="transposed")
_lora_variant("merge-modifies-base", "_LoRAMergeInPlace", merge_rule="in-place")
_lora_variant("lora-scale-wrong", "_LoRAScaleAlpha", scale_rule="alpha")
_lora_variant("lora-scale-wrong", "_LoRAScaleOne", scale_rule="one")
_lora_variant("lora-scale-wrong", "_LoRAScaleROverAlpha", scale_rule="r/alpha")
_lora_variant("lora-scale-wrong", "_LoRAScaleAlphaOverSqrtR", scale_rule="alpha/sqrt(r)")


def lora_param_count(in_features, out_features, r):
    """Trainable parameters of a LoRA adapter: lora_A (r, in) and lora_B (out, r)."""
    return int(r) * (int(in_features) + int(out_features))


@PITFALLS.variant("lora_param_count", "lora-count-includes-base")
def lora_param_count_with_base(in_features, out_features, r):
    return lora_param_count(in_features, out_features, r) + int(in_features) * int(out_features) \
        + int(out_features)


@PITFALLS.variant("lora_param_count", "lora-count-includes-base")
def lora_param_count_with_base_weight(in_features, out_features, r):
    return lora_param_count(in_features, out_features, r) + int(in_features) * int(out_features)


# ---- DynamicLossScaler ----------------------------------------------------------------------------

class DynamicLossScaler:
    """Dynamic loss scaling: torch.amp.GradScaler("cpu") itself behind the catalogue's interface.

    scale(loss) -> loss * scale. step(optimizer) = GradScaler's unscale_, step and update: the
    gradients are divided by the scale in place; on an inf or NaN the step is skipped and the scale
    backed off; after growth_interval good steps in a row it grows. Returns whether the step was
    taken (no inf or NaN in the unscaled gradients). get_scale() -> float.
    """

    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self._scaler = torch.amp.GradScaler("cpu", init_scale=float(init_scale),
                                            growth_factor=float(growth_factor),
                                            backoff_factor=float(backoff_factor),
                                            growth_interval=int(growth_interval))

    def scale(self, loss):
        return self._scaler.scale(loss)

    def get_scale(self):
        return float(self._scaler.get_scale())

    def step(self, optimizer):
        self._scaler.unscale_(optimizer)
        finite = all(bool(torch.isfinite(p.grad).all()) for group in optimizer.param_groups
                     for p in group["params"] if p.grad is not None)
        self._scaler.step(optimizer)     # skips optimizer.step() when unscale_ found inf or NaN
        self._scaler.update()
        return finite


class _ScalerByHand:
    """Dynamic loss scaling as torch.amp.GradScaler (step() then update()), by hand: the base of
    the classic mistakes' variants.

    scale(loss) -> loss * scale. step(optimizer) divides every gradient of the optimizer's
    parameters by the scale in place; on an inf or NaN it skips the step, multiplies the scale by
    backoff_factor, restarts the count of good steps and returns False; otherwise it steps, and
    after growth_interval good steps in a row multiplies the scale by growth_factor; returns True.
    """

    # Knobs of the classic mistakes (each variant builds a subclass that sets one).
    skip_on_overflow = True
    overflow_returns = False
    unscale = True
    back_off = True
    reset_on_overflow = True
    grow_every_step = False

    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self._scale = float(init_scale)
        self.growth_factor = float(growth_factor)
        self.backoff_factor = float(backoff_factor)
        self.growth_interval = int(growth_interval)
        self._good_steps = 0

    def scale(self, loss):
        return loss * self._scale

    def get_scale(self):
        return float(self._scale)

    def step(self, optimizer):
        found_inf = False
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if self.unscale:
                    p.grad.div_(self._scale)
                if not torch.isfinite(p.grad).all():
                    found_inf = True
        if found_inf:
            if not self.skip_on_overflow:
                optimizer.step()
            if self.back_off:
                self._scale *= self.backoff_factor
            if self.reset_on_overflow:
                self._good_steps = 0
            return self.overflow_returns
        optimizer.step()
        self._good_steps += 1
        if self.grow_every_step or self._good_steps >= self.growth_interval:
            self._scale *= self.growth_factor
            self._good_steps = 0
        return True


def _scaler_variant(label, name, **knobs):
    """Register, under `label`, a factory with the class's signature that builds the scaler with
    the knobs of one mistake (the oracle runs the harness with the factory in the class's place)."""
    cls = type(name, (_ScalerByHand,), knobs)

    def factory(init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        return cls(init_scale, growth_factor, backoff_factor, growth_interval)

    factory.__name__ = factory.__qualname__ = "make" + name
    PITFALLS.variant("DynamicLossScaler", label)(factory)
    return factory


_scaler_variant("steps-on-overflow", "_ScalerStepsOnOverflow", skip_on_overflow=False)
_scaler_variant("steps-on-overflow", "_ScalerStepsOnOverflowReturnsTrue", skip_on_overflow=False,
                overflow_returns=True)
_scaler_variant("grads-not-unscaled", "_ScalerWithoutUnscale", unscale=False)
_scaler_variant("scale-not-backed-off", "_ScalerWithoutBackoff", back_off=False)
_scaler_variant("scale-not-backed-off", "_ScalerWithoutBackoffOrReset", back_off=False,
                reset_on_overflow=False)
_scaler_variant("grows-every-step", "_ScalerGrowsEveryStep", grow_every_step=True)
_scaler_variant("good-steps-not-reset", "_ScalerCountNotReset", reset_on_overflow=False)


# ---- training_memory_bytes --------------------------------------------------------------------------

STATE_FLOATS = {"sgd": 0, "momentum": 1, "adam": 2}


def _memory(n_params, optimizer, mixed_precision, activation_floats=0, *, master=True,
            gradients=True, state=None, state_bytes=4, act_bytes=None):
    """Training memory with one knob per classic mistake; the defaults are the right answer."""
    n, a = int(n_params), int(activation_floats)
    k = STATE_FLOATS[str(optimizer).lower()] if state is None else state[str(optimizer).lower()]
    if mixed_precision:
        total = 2 * n + (2 * n if gradients else 0) + (4 * n if master else 0)
        total += state_bytes * k * n + (2 if act_bytes is None else act_bytes) * a
    else:
        total = 4 * n + (4 * n if gradients else 0) + 4 * k * n + 4 * a
    return int(total)


def training_memory_bytes(n_params, optimizer, mixed_precision, activation_floats=0):
    """Bytes of weights, gradients, optimizer state and stored activations during training.

    fp32: 4-byte weights, gradients, state (sgd 0, momentum 1, adam 2 floats per parameter) and
    activations. Mixed precision: 2-byte weights and gradients, a 4-byte master copy of the
    weights, 4-byte state and 2-byte activations.
    """
    return _memory(n_params, optimizer, mixed_precision, activation_floats)


def _memory_variant(label, **knobs):
    def variant(n_params, optimizer, mixed_precision, activation_floats=0):
        return _memory(n_params, optimizer, mixed_precision, activation_floats, **knobs)
    variant.__name__ = "training_memory_bytes_" + "_".join(f"{k}" for k in knobs)
    PITFALLS.variant("training_memory_bytes", label)(variant)
    return variant


_memory_variant("forgot-master-weights", master=False)
_memory_variant("forgot-gradients", gradients=False)
_memory_variant("optimizer-state-wrong", state={"sgd": 0, "momentum": 1, "adam": 1})
_memory_variant("optimizer-state-wrong", state={"sgd": 1, "momentum": 1, "adam": 2})
_memory_variant("optimizer-state-wrong", state={"sgd": 0, "momentum": 2, "adam": 3})
_memory_variant("half-precision-state", state_bytes=2)
_memory_variant("activations-not-halved", act_bytes=4)
