"""Harnesses for q17_training_pipeline: training-loop functions exercised on instrumented objects.

Each harness runs in the worker next to the student's notebook (and, in the parent, on the
reference implementations, to produce the expected trace). It builds a seeded model, loader and
optimizer whose methods write what happens into an event list, calls one function and returns plain
data: the events, the returned value, the final weights. Nothing here knows what the right answer is.

Events (lists, so that they travel as plain data):
    ["forward", training, grad_enabled]   the model's forward ran
    ["zero_grad"]                          optimizer.zero_grad() or model.zero_grad()
    ["backward", stale]                    a backward pass reached the parameters; `stale` is True
                                           when some .grad still held an earlier batch's gradient
    ["clip", max_norm]                     torch.nn.utils.clip_grad_norm_ was called
    ["step", grad_norm]                    optimizer.step(), with the global norm of the grads it saw
"""
from __future__ import annotations

import torch
from torch import nn

from whiteboard.worker.harness import as_float, get_function


# ---- instrumented objects -------------------------------------------------------------------

class TrainOnlyScale(nn.Module):
    """Halves its input in training mode and passes it through in eval mode: a deterministic
    stand-in for dropout, so that forgetting model.train()/model.eval() changes the numbers."""

    def forward(self, x):
        return x * 0.5 if self.training else x


class TrainOnlyShift(nn.Module):
    """Adds 3 to the last logit in training mode only: train-mode predictions differ from eval's."""

    def forward(self, x):
        if not self.training:
            return x
        bump = torch.zeros(x.shape[-1], dtype=x.dtype)
        bump[-1] = 3.0
        return x + bump


class TracedNet(nn.Module):
    """A small MLP that records every forward call (mode and grad state) and model.zero_grad()."""

    def __init__(self, events: list, d_in: int = 5, hidden: int = 8, classes: int = 3,
                 train_only=TrainOnlyScale):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d_in, hidden), nn.Tanh(), train_only(),
                                  nn.Linear(hidden, classes))
        self._events = events

    def forward(self, x):
        self._events.append(["forward", bool(self.training), bool(torch.is_grad_enabled())])
        return self.body(x)

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad"])
        super().zero_grad(set_to_none)


class TracedSGD(torch.optim.SGD):
    """SGD that records zero_grad() and step(), with the global gradient norm each step saw."""

    def __init__(self, params, events: list, lr: float):
        super().__init__(params, lr=lr)
        self._events = events

    def zero_grad(self, set_to_none: bool = True):
        self._events.append(["zero_grad"])
        super().zero_grad(set_to_none)

    def step(self, closure=None):
        grads = [p.grad for g in self.param_groups for p in g["params"] if p.grad is not None]
        norm = float(torch.sqrt(sum(((g.detach().double() ** 2).sum() for g in grads),
                                    torch.zeros((), dtype=torch.float64))))
        self._events.append(["step", norm])
        return super().step(closure)


class TracedLoss(torch.Tensor):
    """The loss tensor handed to the student. Every tensor computed from it remembers which
    batches' losses went into it; one that mixes two batches and still requires grad means the
    graphs of several batches are being kept alive (a tensor running total)."""

    kept_graph = False

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        batches: set = set()

        def collect(a):
            if isinstance(a, TracedLoss):
                batches.update(getattr(a, "_wb_batches", ()))
            elif isinstance(a, (list, tuple)):
                for b in a:
                    collect(b)

        collect(args)
        collect(list(kwargs.values()))
        out = super().__torch_function__(func, types, args, kwargs)
        if batches:
            _tag(out, batches)
            if len(batches) >= 2 and isinstance(out, torch.Tensor) and out.requires_grad:
                TracedLoss.kept_graph = True
        return out


def _tag(value, batches):
    if isinstance(value, TracedLoss):
        value._wb_batches = set(getattr(value, "_wb_batches", ())) | batches
    elif isinstance(value, (list, tuple)):
        for v in value:
            _tag(v, batches)


class TracedCrossEntropy(nn.CrossEntropyLoss):
    """Mean cross-entropy that records each batch's loss value and size."""

    def __init__(self, record: list):
        super().__init__()
        self._record = record

    def forward(self, logits, target):
        out = super().forward(logits, target)
        self._record.append([float(out.detach()), int(target.shape[0])])
        if not out.requires_grad:
            return out
        traced = out.as_subclass(TracedLoss)
        traced._wb_batches = {len(self._record) - 1}
        return traced


def _watch_backward(model: nn.Module, events: list) -> None:
    """Record one ["backward", stale] per backward pass, stale when old gradients are still there."""
    params = list(model.parameters())
    pending = {"left": 0, "stale": False}

    def hook_for(p):
        def hook(grad):
            # Runs before the new gradient is added to p.grad: what is there now is left over.
            stale = p.grad is not None and bool(p.grad.detach().abs().sum() > 0)
            if pending["left"] == 0:
                pending["left"], pending["stale"] = len(params), False
                events.append(["backward", False])
            pending["stale"] = pending["stale"] or stale
            events[_last_backward(events)][1] = pending["stale"]
            pending["left"] -= 1
        return hook

    for p in params:
        p.register_hook(hook_for(p))


def _last_backward(events):
    for i in range(len(events) - 1, -1, -1):
        if events[i][0] == "backward":
            return i
    return -1


class _ClipSpy:
    """Replaces torch.nn.utils.clip_grad_norm_ (and the namespace's own alias of it) while a
    harness runs, recording each call; the clipping itself is done by the original."""

    def __init__(self, namespace: dict, events: list):
        import torch.nn.utils as utils
        import torch.nn.utils.clip_grad as clip_grad

        self.original = utils.clip_grad_norm_
        self.namespace = namespace
        self.events = events
        self.owners = [(utils, "clip_grad_norm_"), (clip_grad, "clip_grad_norm_")]
        self.aliases = [k for k, v in namespace.items() if v is self.original]

    def __enter__(self):
        original, events = self.original, self.events

        def clip_grad_norm_(parameters, max_norm, *args, **kwargs):
            events.append(["clip", float(max_norm)])
            return original(parameters, max_norm, *args, **kwargs)

        self.saved = [(o, a, getattr(o, a)) for o, a in self.owners]
        for owner, attr in self.owners:
            setattr(owner, attr, clip_grad_norm_)
        for name in self.aliases:
            self.namespace[name] = clip_grad_norm_
        return self

    def __exit__(self, *exc):
        for owner, attr, value in self.saved:
            setattr(owner, attr, value)
        for name in self.aliases:
            self.namespace[name] = self.original
        return False


def _loader(seed: int, n: int, batch_size: int, d_in: int = 5, classes: int = 3):
    g = torch.Generator().manual_seed(seed + 1000)
    x = torch.randn(n, d_in, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    dataset = torch.utils.data.TensorDataset(x, y)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False)


def _returned(value) -> dict:
    """A returned value described as plain data: its type, and its number if it has one."""
    name = "torch.Tensor" if isinstance(value, torch.Tensor) else type(value).__name__
    info = {"type": name, "is_tensor": isinstance(value, torch.Tensor),
            "requires_grad": bool(getattr(value, "requires_grad", False)), "value": None}
    try:
        if isinstance(value, torch.Tensor):
            info["value"] = float(value.detach().reshape(()))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            info["value"] = float(value)
        else:
            import numpy as np

            if isinstance(value, np.generic) or (isinstance(value, np.ndarray) and value.size == 1):
                info["value"] = float(np.asarray(value).reshape(()))
    except (TypeError, ValueError, RuntimeError):
        pass
    return info


# ---- train_one_epoch --------------------------------------------------------------------------

def train_epoch_trace(namespace: dict, seed: int = 0, n: int = 12, batch_size: int = 4,
                      clip_norm=None, start_mode: str = "train", lr: float = 0.1) -> dict:
    """One epoch of the student's train_one_epoch on a traced model, loader, loss and optimizer."""
    fn = get_function(namespace, "train_one_epoch")
    events: list = []
    losses: list = []
    torch.manual_seed(seed)
    model = TracedNet(events)
    model.train(start_mode == "train")
    loader = _loader(seed, n, batch_size)
    optimizer = TracedSGD(model.parameters(), events, lr=lr)
    loss_fn = TracedCrossEntropy(losses)
    _watch_backward(model, events)
    TracedLoss.kept_graph = False
    with _ClipSpy(namespace, events):
        if clip_norm is None:
            value = fn(model, loader, loss_fn, optimizer)
        else:
            value = fn(model, loader, loss_fn, optimizer, clip_norm=clip_norm)
    kept = TracedLoss.kept_graph
    TracedLoss.kept_graph = False
    return {"events": events, "returned": _returned(value), "kept_graph": kept,
            "batch_losses": losses, "n_batches": len(loader),
            "weights": [p.detach().clone().as_subclass(torch.Tensor) for p in model.parameters()]}


# ---- evaluate -----------------------------------------------------------------------------------

def evaluate_trace(namespace: dict, seed: int = 0, n: int = 10, batch_size: int = 4,
                   start_mode: str = "train") -> dict:
    """The student's evaluate on a traced model that starts in `start_mode`."""
    fn = get_function(namespace, "evaluate")
    events: list = []
    torch.manual_seed(seed)
    model = TracedNet(events)
    model.train(start_mode == "train")
    before = [p.detach().clone() for p in model.parameters()]
    loader = _loader(seed, n, batch_size)
    value = fn(model, loader, nn.CrossEntropyLoss())
    changed = any(not torch.equal(a, p.detach()) for a, p in zip(before, model.parameters()))
    out = {"events": events, "weights_changed": changed, "is_pair": False}
    if isinstance(value, (tuple, list)) and len(value) == 2:
        out.update(is_pair=True, loss=_returned(value[0]), accuracy=_returned(value[1]))
    else:
        out["returned"] = _returned(value)
    return out


# ---- fit ------------------------------------------------------------------------------------------

class ScriptedScheduler:
    """Records step() calls; accepts step() and step(metric) alike."""

    def __init__(self, calls: list):
        self._calls = calls

    def step(self, *args, **kwargs):
        self._calls.append(["sched"])

    def get_last_lr(self):
        return [0.1]


class _ScriptedLoader:
    """Stands for a DataLoader that fit only hands on: it has a length and a dataset, no batches
    (the scripted train_one_epoch and evaluate never iterate it)."""

    dataset = tuple(range(16))

    def __len__(self):
        return 4

    def __iter__(self):
        return iter(())


def fit_trace(namespace: dict, train_losses: list, val_losses: list, val_accs: list, epochs: int,
              scheduler: bool = False, clip_norm=None, patience=None) -> dict:
    """The student's fit with train_one_epoch and evaluate replaced by scripted stand-ins.

    Epoch k's stand-in training sets every weight to k + 1, so the weights fit leaves behind say
    which epoch they came from; its losses and accuracies come from the script.
    """
    fn = get_function(namespace, "fit")
    calls: list = []
    torch.manual_seed(0)
    model = nn.Linear(3, 2)
    train_loader, val_loader = _ScriptedLoader(), _ScriptedLoader()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)

    def scripted_train_one_epoch(model_, loader, loss_fn_, optimizer_, clip_norm=None):
        epoch = sum(1 for c in calls if c[0] == "train")
        calls.append(["train", epoch, clip_norm, loader is train_loader, model_ is model])
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(epoch + 1))
        return float(train_losses[min(epoch, len(train_losses) - 1)])

    def scripted_evaluate(model_, loader, loss_fn_):
        epoch = max(0, sum(1 for c in calls if c[0] == "train") - 1)
        calls.append(["eval", epoch, loader is val_loader, model_ is model])
        i = min(epoch, len(val_losses) - 1)
        return float(val_losses[i]), float(val_accs[i])

    saved = {k: namespace.get(k, None) for k in ("train_one_epoch", "evaluate")}
    namespace["train_one_epoch"] = scripted_train_one_epoch
    namespace["evaluate"] = scripted_evaluate
    try:
        kwargs = {}
        if scheduler:
            kwargs["scheduler"] = ScriptedScheduler(calls)
        if clip_norm is not None:
            kwargs["clip_norm"] = clip_norm
        if patience is not None:
            kwargs["patience"] = patience
        history = fn(model, train_loader, val_loader, loss_fn, optimizer, epochs, **kwargs)
    finally:
        for k, v in saved.items():
            if v is None:
                namespace.pop(k, None)
            else:
                namespace[k] = v
    weights = torch.cat([p.detach().reshape(-1) for p in model.parameters()])
    uniform = bool((weights == weights[0]).all())
    return {"history": history if isinstance(history, dict) else None,
            "history_type": type(history).__name__, "calls": calls,
            "weights_value": float(weights[0]) if uniform else None, "weights_uniform": uniform,
            "weights": weights}


# ---- select_hyperparameters ---------------------------------------------------------------------

class Split:
    """One split of a dataset as select_hyperparameters receives it: the harness's train_fn and
    score_fn recognise it by identity, so the trace says which split every call saw."""

    def __init__(self, name: str, size: int):
        self.name = name
        self.size = size

    def __len__(self):
        return self.size

    def __repr__(self):
        return f"<the {self.name} split, {self.size} examples>"


class TrainedModel:
    """What the harness's train_fn returns: which candidate it is and which split trained it."""

    def __init__(self, candidate: int, trained_on: str):
        self.candidate = candidate
        self.trained_on = trained_on

    def __repr__(self):
        return f"<model of candidate {self.candidate}, trained on {self.trained_on}>"


def select_trace(namespace: dict, grid: list, scores: dict, sizes=(60, 20, 20)) -> dict:
    """The student's select_hyperparameters with a train_fn and score_fn that record every call.

    `scores[split][i]` is what score_fn returns for candidate i's model on that split. Events:
    ["train", candidate, split] and ["score", candidate, split] (candidate -1: not one of the
    grid's entries or models; split "other": not one of the three split objects).
    """
    fn = get_function(namespace, "select_hyperparameters")
    grid = [dict(params) for params in grid]
    splits = {name: Split(name, size) for name, size in zip(("train", "val", "test"), sizes)}
    calls: list = []

    def split_name(data):
        return next((name for name, s in splits.items() if data is s), "other")

    def candidate_of(params):
        found = next((i for i, p in enumerate(grid) if p is params), None)
        if found is None:
            found = next((i for i, p in enumerate(grid) if p == params), -1)
        return found

    def train_fn(params, data):
        index = candidate_of(params)
        calls.append(["train", index, split_name(data)])
        return TrainedModel(index, split_name(data))

    def score_fn(model, data):
        index = model.candidate if isinstance(model, TrainedModel) else -1
        name = split_name(data)
        calls.append(["score", index, name])
        if index < 0 or name not in scores:
            return float("nan")
        return float(scores[name][index])

    value = fn(grid, train_fn, score_fn, splits["train"], splits["val"], splits["test"])
    out = {"calls": calls, "type": type(value).__name__, "is_triple": False}
    if not (isinstance(value, (tuple, list)) and len(value) == 3):
        out["length"] = len(value) if isinstance(value, (tuple, list)) else None
        return out
    best, val_scores, test_score = value
    out["is_triple"] = True
    out["best_type"] = type(best).__name__
    out["best_index"] = candidate_of(best) if isinstance(best, dict) else -1
    out["best_params"] = dict(best) if isinstance(best, dict) else None
    if not isinstance(val_scores, (dict, str, bytes)) and hasattr(val_scores, "__len__") \
            and hasattr(val_scores, "__getitem__"):
        as_floats = [as_float(v) for v in list(val_scores)]
        out["val_scores"] = None if any(v is None for v in as_floats) else as_floats
    else:
        out["val_scores"] = None
    out["val_scores_type"] = type(val_scores).__name__
    out["test_score"] = as_float(test_score)
    out["test_score_type"] = type(test_score).__name__
    return out


# ---- predict --------------------------------------------------------------------------------------

def predict_trace(namespace: dict, seed: int = 0, batch: int = 16, start_mode: str = "train") -> dict:
    """The student's predict on a model whose train-mode logits favour the last class."""
    fn = get_function(namespace, "predict")
    events: list = []
    torch.manual_seed(seed)
    model = TracedNet(events, train_only=TrainOnlyShift)
    model.train(start_mode == "train")
    x = torch.randn(batch, 5, generator=torch.Generator().manual_seed(seed + 7))
    value = fn(model, x)
    modes_after = [m.training for m in model.modules()]
    out = {"events": events, "mode_after": bool(model.training),
           "all_modules_same_mode": all(m == modes_after[0] for m in modes_after),
           "is_tensor": isinstance(value, torch.Tensor), "type": type(value).__name__,
           "dtype": str(value.dtype).replace("torch.", "") if hasattr(value, "dtype") else None,
           "requires_grad": bool(getattr(value, "requires_grad", False)),
           "value": value.detach().as_subclass(torch.Tensor) if isinstance(value, torch.Tensor)
           else value}
    return out


# ---- train_digits_classifier ----------------------------------------------------------------------

class _LoadDigitsSpy:
    """Notices a call of sklearn's load_digits (the full dataset holds the held-out digits)."""

    def __init__(self, namespace: dict):
        self.namespace = namespace
        self.used = False
        self.saved = []

    def __enter__(self):
        try:
            import sklearn.datasets as datasets
        except ImportError:
            return self
        original = datasets.load_digits

        def load_digits(*args, **kwargs):
            self.used = True
            return original(*args, **kwargs)

        self.saved = [(datasets, "load_digits", original)]
        try:
            import sklearn.datasets._base as base

            if getattr(base, "load_digits", None) is original:
                self.saved.append((base, "load_digits", original))
        except ImportError:
            pass
        for owner, attr, _ in self.saved:
            setattr(owner, attr, load_digits)
        self.aliases = [k for k, v in self.namespace.items() if v is original]
        for name in self.aliases:
            self.namespace[name] = load_digits
        self.original = original
        return self

    def __exit__(self, *exc):
        for owner, attr, value in self.saved:
            setattr(owner, attr, value)
        for name in getattr(self, "aliases", ()):
            self.namespace[name] = self.original
        return False


def digits_trace(namespace: dict, x_train, y_train, x_test, seed: int = 0) -> dict:
    """Train the student's digits classifier, then predict the held-out digits in eval mode."""
    import numpy as np

    fn = get_function(namespace, "train_digits_classifier")
    with _LoadDigitsSpy(namespace) as spy:
        try:
            model = fn(np.array(x_train, dtype=np.float32), np.array(y_train, dtype=np.int64), seed)
        except Exception:
            if not spy.used:
                raise
            model = None  # load_digits itself may fail in the sandbox: calling it is what counts
    if spy.used:
        return {"is_module": isinstance(model, nn.Module), "loaded_digits": True}
    if not isinstance(model, nn.Module):
        return {"is_module": False, "type": type(model).__name__}
    model.eval()
    with torch.no_grad():
        small = model(torch.as_tensor(np.asarray(x_test[:3], dtype=np.float32)))
        logits = model(torch.as_tensor(np.asarray(x_test, dtype=np.float32)))
    if not isinstance(logits, torch.Tensor) or not isinstance(small, torch.Tensor):
        return {"is_module": True, "output_type": type(logits).__name__}
    out = {"is_module": True, "output_type": "Tensor", "small_shape": list(small.shape),
           "shape": list(logits.shape)}
    if logits.ndim == 2:
        out["predictions"] = logits.argmax(dim=1).as_subclass(torch.Tensor)
    return out
