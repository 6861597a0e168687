"""q19 mutants (one classic mistake each) and alternative correct solutions.

Each source is appended to the solution notebook as a last cell that redefines one function or
class. The notebook's setup cell does `import numpy as np`, `import torch`, `from torch import nn`,
`import torch.nn.functional as F` and `import matplotlib.pyplot as plt`.
"""

MUTANTS = [
    # -- train_with_accumulation ----------------------------------------------------------------
    ("loss-not-scaled", "train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    model.train()
    losses = []
    for start in range(0, len(batches), accum_steps):
        group = batches[start:start + accum_steps]
        optimizer.zero_grad()
        total = 0.0
        for x, y in group:
            loss = loss_fn(model(x), y)
            loss.backward()                      # summed over the group, not averaged
            total += loss.item()
        optimizer.step()
        losses.append(total / len(group))
    return losses
'''),
    ("step-every-micro-batch", "train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    model.train()
    optimizer.zero_grad()
    n = len(batches)
    losses, running, count = [], 0.0, 0
    for i, (x, y) in enumerate(batches):
        group_size = min(accum_steps, n - (i // accum_steps) * accum_steps)
        loss = loss_fn(model(x), y)
        (loss / group_size).backward()
        optimizer.step()
        running += loss.item()
        count += 1
        if count == group_size:
            optimizer.zero_grad()
            losses.append(running / count)
            running, count = 0.0, 0
    return losses
'''),
    ("zero-grad-every-micro-batch", "train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    model.train()
    out = []
    for g in range(0, len(batches), accum_steps):
        group = batches[g:g + accum_steps]
        group_losses = []
        for x, y in group:
            optimizer.zero_grad()
            loss = loss_fn(model(x), y) / len(group)
            loss.backward()
            group_losses.append(loss.item() * len(group))
        optimizer.step()
        out.append(sum(group_losses) / len(group_losses))
    return out
'''),
    ("leftover-dropped", "train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    model.train()
    optimizer.zero_grad()
    losses, acc = [], 0.0
    for i, (x, y) in enumerate(batches):
        loss = loss_fn(model(x), y) / accum_steps
        loss.backward()
        acc += loss.item()
        if (i + 1) % accum_steps == 0:
            optimizer.step()
            optimizer.zero_grad()
            losses.append(acc)
            acc = 0.0
    return losses
'''),
    ("leftover-scaled-by-accum-steps", "train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    model.train()
    optimizer.zero_grad()
    losses, acc = [], 0.0
    for i, (x, y) in enumerate(batches):
        loss = loss_fn(model(x), y) / accum_steps
        loss.backward()
        acc += loss.item()
        if (i + 1) % accum_steps == 0 or i + 1 == len(batches):
            optimizer.step()
            optimizer.zero_grad()
            losses.append(acc)
            acc = 0.0
    return losses
'''),
    # -- LoRALinear -----------------------------------------------------------------------------
    ("lora-b-not-zero", "LoRALinear", '''
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.weight.requires_grad = False
        if self.base.bias is not None:
            self.base.bias.requires_grad = False
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * 0.01)
        self.lora_B = nn.Parameter(torch.randn(base.out_features, r) * 0.01)
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merged(self):
        layer = nn.Linear(self.base.in_features, self.base.out_features,
                          bias=self.base.bias is not None)
        with torch.no_grad():
            layer.weight.copy_(self.base.weight + self.scaling * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias)
        return layer
'''),
    ("base-not-frozen", "LoRALinear", '''
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.r, self.alpha = r, alpha
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) / r)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))

    def forward(self, x):
        delta = x @ self.lora_A.T @ self.lora_B.T
        return self.base(x) + delta * (self.alpha / self.r)

    def merged(self):
        merged = nn.Linear(self.base.in_features, self.base.out_features,
                           bias=self.base.bias is not None)
        with torch.no_grad():
            merged.weight.copy_(self.base.weight + (self.alpha / self.r) * self.lora_B @ self.lora_A)
            if self.base.bias is not None:
                merged.bias.copy_(self.base.bias)
        return merged
'''),
    ("lora-scale-wrong", "LoRALinear", '''
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * 0.01)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.alpha = alpha

    def forward(self, x):
        return self.base(x) + self.alpha * (x @ self.lora_A.T @ self.lora_B.T)

    def merged(self):
        out = nn.Linear(self.base.in_features, self.base.out_features,
                        bias=self.base.bias is not None)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.alpha * (self.lora_B @ self.lora_A))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        return out
'''),
    ("merge-transposed", "LoRALinear", '''
class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_A = nn.Parameter(torch.randn(r, base.in_features) * 0.01)
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        self.scaling = alpha / r

    def forward(self, x):
        return self.base(x) + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling

    def merged(self):
        delta = self.lora_A.T @ self.lora_B.T          # the same product as in forward
        layer = nn.Linear(self.base.in_features, self.base.out_features,
                          bias=self.base.bias is not None)
        with torch.no_grad():
            layer.weight.copy_(self.base.weight + self.scaling * delta)
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias)
        return layer
'''),
    # -- lora_param_count -----------------------------------------------------------------------
    ("lora-count-includes-base", "lora_param_count", '''
def lora_param_count(in_features, out_features, r):
    base = in_features * out_features + out_features
    return base + r * in_features + out_features * r
'''),
    # -- DynamicLossScaler ----------------------------------------------------------------------
    ("steps-on-overflow", "DynamicLossScaler", '''
class DynamicLossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self.cur_scale = init_scale
        self.growth_factor, self.backoff_factor = growth_factor, backoff_factor
        self.growth_interval = growth_interval
        self.good_steps = 0

    def scale(self, loss):
        return loss * self.cur_scale

    def get_scale(self):
        return self.cur_scale

    def step(self, optimizer):
        params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        for p in params:
            p.grad /= self.cur_scale
        overflow = any(not torch.isfinite(p.grad).all() for p in params)
        optimizer.step()
        if overflow:
            self.cur_scale *= self.backoff_factor
            self.good_steps = 0
            return False
        self.good_steps += 1
        if self.good_steps == self.growth_interval:
            self.cur_scale *= self.growth_factor
            self.good_steps = 0
        return True
'''),
    ("grads-not-unscaled", "DynamicLossScaler", '''
class DynamicLossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self._scale = init_scale
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self._tracker = 0

    def scale(self, loss):
        return self._scale * loss

    def get_scale(self):
        return float(self._scale)

    def step(self, optimizer):
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is not None and (torch.isinf(p.grad).any() or torch.isnan(p.grad).any()):
                    self._scale *= self.backoff_factor
                    self._tracker = 0
                    return False
        optimizer.step()
        self._tracker += 1
        if self._tracker >= self.growth_interval:
            self._scale *= self.growth_factor
            self._tracker = 0
        return True
'''),
    ("scale-not-backed-off", "DynamicLossScaler", '''
class DynamicLossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self.s = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval
        self.n_good = 0

    def scale(self, loss):
        return loss * self.s

    def get_scale(self):
        return self.s

    def step(self, optimizer):
        finite = True
        for group in optimizer.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.grad.div_(self.s)
                finite = finite and bool(torch.isfinite(p.grad).all())
        if not finite:
            self.n_good = 0          # skip the step; forgot to shrink the scale
            return False
        optimizer.step()
        self.n_good += 1
        if self.n_good == self.growth_interval:
            self.s *= self.growth_factor
            self.n_good = 0
        return True
'''),
    ("grows-every-step", "DynamicLossScaler", '''
class DynamicLossScaler:
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self.s = float(init_scale)
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval

    def scale(self, loss):
        return loss * self.s

    def get_scale(self):
        return self.s

    def step(self, optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        for grad in grads:
            grad.mul_(1.0 / self.s)
        if not all(torch.isfinite(grad).all() for grad in grads):
            self.s *= self.backoff_factor
            return False
        optimizer.step()
        self.s *= self.growth_factor
        return True
'''),
    # -- training_memory_bytes ------------------------------------------------------------------
    ("forgot-master-weights", "training_memory_bytes", '''
def training_memory_bytes(n_params, optimizer, mixed_precision, activation_floats=0):
    states = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
    if mixed_precision:
        return n_params * (2 + 2 + 4 * states) + 2 * activation_floats
    return n_params * (4 + 4 + 4 * states) + 4 * activation_floats
'''),
    ("forgot-gradients", "training_memory_bytes", '''
def training_memory_bytes(n_params, optimizer, mixed_precision, activation_floats=0):
    n_state = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
    if mixed_precision:
        weights = 2 * n_params + 4 * n_params       # fp16 copy + fp32 master
        act = 2 * activation_floats
    else:
        weights = 4 * n_params
        act = 4 * activation_floats
    return weights + 4 * n_state * n_params + act
'''),
]

ALTERNATIVES = [
    # -- train_with_accumulation ----------------------------------------------------------------
    ("train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    # the usual `(i + 1) % accum_steps` loop, with a flush for the last, short group
    model.train()
    optimizer.zero_grad(set_to_none=True)
    n = len(batches)
    losses, running = [], []
    for i, (x, y) in enumerate(batches):
        group_size = min(accum_steps, n - (i // accum_steps) * accum_steps)
        loss = loss_fn(model(x), y)
        (loss / group_size).backward()
        running.append(loss.item())
        if (i + 1) % accum_steps == 0 or i + 1 == n:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(float(np.mean(running)))
            running = []
    return losses
'''),
    ("train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    model.train()
    groups = [batches[i:i + accum_steps] for i in range(0, len(batches), accum_steps)]
    history = []
    for group in groups:
        model.zero_grad()
        group_loss = torch.zeros(())
        for xb, yb in group:
            loss = loss_fn(model(xb), yb) / len(group)
            loss.backward()
            group_loss += loss.detach()
        optimizer.step()
        history.append(group_loss.item())
    return history
'''),
    ("train_with_accumulation", '''
def train_with_accumulation(model, batches, loss_fn, optimizer, accum_steps):
    # one backward per group on the mean of its micro-batch losses: the same gradient
    model.train()
    out = []
    for start in range(0, len(batches), accum_steps):
        group = batches[start:start + accum_steps]
        optimizer.zero_grad()
        loss = sum(loss_fn(model(x), y) for x, y in group) / len(group)
        loss.backward()
        optimizer.step()
        out.append(loss.item())
    return out
'''),
    # -- LoRALinear -----------------------------------------------------------------------------
    ("LoRALinear", '''
import copy

class LoRALinear(nn.Module):
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        self.base.requires_grad_(False)
        self.r, self.alpha = r, alpha
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.empty(base.out_features, r))
        nn.init.normal_(self.lora_A, std=1.0 / r)
        nn.init.zeros_(self.lora_B)

    def forward(self, x):
        return self.base(x) + (self.alpha / self.r) * F.linear(F.linear(x, self.lora_A), self.lora_B)

    def merged(self):
        layer = copy.deepcopy(self.base)
        with torch.no_grad():
            layer.weight += (self.alpha / self.r) * (self.lora_B @ self.lora_A)
        return layer
'''),
    ("LoRALinear", '''
class LoRALinear(nn.Module):
    """loralib style: a scaling attribute, kaiming init of A, merge through a state dict."""
    def __init__(self, base, r, alpha):
        super().__init__()
        self.base = base
        for name, p in self.base.named_parameters():
            p.requires_grad = False
        self.scaling = alpha / r
        self.lora_A = nn.Parameter(base.weight.new_zeros((r, base.in_features)))
        self.lora_B = nn.Parameter(base.weight.new_zeros((base.out_features, r)))
        nn.init.kaiming_uniform_(self.lora_A, a=5 ** 0.5)

    def forward(self, x):
        result = self.base(x)
        result = result + (x @ self.lora_A.transpose(0, 1) @ self.lora_B.transpose(0, 1)) * self.scaling
        return result

    def merged(self):
        has_bias = self.base.bias is not None
        new = nn.Linear(self.base.in_features, self.base.out_features, bias=has_bias)
        state = {"weight": self.base.weight.detach() + self.scaling * (self.lora_B @ self.lora_A).detach()}
        if has_bias:
            state["bias"] = self.base.bias.detach().clone()
        new.load_state_dict(state)
        return new
'''),
    # -- lora_param_count -----------------------------------------------------------------------
    ("lora_param_count", '''
def lora_param_count(in_features, out_features, r):
    a = r * in_features        # lora_A
    b = out_features * r       # lora_B
    return a + b
'''),
    ("lora_param_count", '''
def lora_param_count(in_features, out_features, r):
    layer = LoRALinear(nn.Linear(in_features, out_features), r, alpha=2 * r)
    return sum(p.numel() for p in layer.parameters() if p.requires_grad)
'''),
    # -- DynamicLossScaler ----------------------------------------------------------------------
    ("DynamicLossScaler", '''
class DynamicLossScaler:
    """A thin wrapper of PyTorch's own scaler (on the CPU)."""
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self.scaler = torch.amp.GradScaler("cpu", init_scale=init_scale,
                                           growth_factor=growth_factor,
                                           backoff_factor=backoff_factor,
                                           growth_interval=growth_interval)

    def scale(self, loss):
        return self.scaler.scale(loss)

    def step(self, optimizer):
        before = self.scaler.get_scale()
        self.scaler.step(optimizer)
        self.scaler.update()
        return self.scaler.get_scale() >= before    # it only shrinks after an overflow

    def get_scale(self):
        return self.scaler.get_scale()
'''),
    ("DynamicLossScaler", '''
class DynamicLossScaler:
    """GradScaler's bookkeeping by hand: the inverse scale, one found_inf flag, a growth tracker."""
    def __init__(self, init_scale=65536.0, growth_factor=2.0, backoff_factor=0.5,
                 growth_interval=2000):
        self._scale = torch.tensor(float(init_scale))
        self._growth_tracker = 0
        self.growth_factor = growth_factor
        self.backoff_factor = backoff_factor
        self.growth_interval = growth_interval

    def scale(self, loss):
        return loss * self._scale

    def get_scale(self):
        return self._scale.item()

    def step(self, optimizer):
        inv_scale = 1.0 / self._scale
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        found_inf = torch.zeros(())
        for grad in grads:
            grad.mul_(inv_scale)
            found_inf += (~torch.isfinite(grad)).sum()
        if found_inf.item() > 0:
            self._scale = self._scale * self.backoff_factor
            self._growth_tracker = 0
            return False
        optimizer.step()
        self._growth_tracker += 1
        if self._growth_tracker == self.growth_interval:
            self._scale = self._scale * self.growth_factor
            self._growth_tracker = 0
        return True
'''),
    # -- training_memory_bytes ------------------------------------------------------------------
    ("training_memory_bytes", '''
def training_memory_bytes(n_params, optimizer, mixed_precision, activation_floats=0):
    state_floats = {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]
    if mixed_precision:
        per_param = 2 + 2 + 4 + 4 * state_floats   # fp16 weight, fp16 grad, fp32 master, state
        return per_param * n_params + 2 * activation_floats
    per_param = 4 + 4 + 4 * state_floats
    return per_param * n_params + 4 * activation_floats
'''),
    ("training_memory_bytes", '''
def training_memory_bytes(n_params, optimizer, mixed_precision, activation_floats=0):
    half, full = 2, 4
    weights = n_params * (half + full if mixed_precision else full)
    grads = n_params * (half if mixed_precision else full)
    state = 0
    if optimizer == "momentum":
        state = full * n_params
    elif optimizer == "adam":
        state = 2 * full * n_params
    acts = activation_floats * (half if mixed_precision else full)
    return int(weights + grads + state + acts)
'''),
]
