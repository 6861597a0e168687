"""q17 training pipeline: the reference implementations and the classic mistakes, as code.

The data functions (split_indices, fit_standardizer, standardize, prepare_data) are checked like
any other function: the student's output is compared with these. The loop functions take objects
(a model, a loader, an optimizer) that cannot cross the process boundary, so their checks run a
harness of `whiteboard.harnesses.q17_training_pipeline` twice: in the worker on the student's
function, and here on the reference below. The traces are compared and the mistake is named by
rules in the test module.
"""
import copy

import numpy as np
import torch
from torch import nn

from whiteboard.grading.checks import Pitfalls

LABELS = {
    "overlapping-splits": (
        "some example landed in more than one split (or twice in one), so the model is evaluated on "
        "data it was trained on and the validation/test scores are optimistic.",
        "Shuffle the indices once and cut that single permutation into three consecutive, "
        "non-overlapping pieces: test = perm[:n_test], val = perm[n_test:n_test + n_val], "
        "train = perm[n_test + n_val:]."),
    "unshuffled-split": (
        "the splits are contiguous blocks of the original order. Datasets are often sorted (by class, "
        "by date, by source), so an unshuffled split can put whole classes in one split only.",
        "Draw a permutation from a generator seeded with `seed` (np.random.default_rng(seed)"
        ".permutation(n) or torch.randperm(n, generator=torch.Generator().manual_seed(seed))) and "
        "split that instead of range(n)."),
    "leakage-stats-from-all-data": (
        "the mean and standard deviation were computed on the whole dataset, so information about "
        "the validation and test examples leaked into the preprocessing of the training data: the "
        "held-out scores no longer measure performance on unseen data.",
        "Split first, then call fit_standardizer on x_train only, and standardise all three splits "
        "with those training statistics."),
    "split-standardised-separately": (
        "each split was standardised with its own mean and std. The model then sees validation and "
        "test inputs transformed differently from its training inputs (and a single test example "
        "could not be standardised at all).",
        "Fit the statistics once, on the training split, and reuse them for val and test."),
    "std-ddof-1": (
        "the standard deviation used ddof=1 (the sample estimate); the exercise, like scikit-learn's "
        "StandardScaler, uses the population std (ddof=0).",
        "Use x.std(axis=0) in NumPy (ddof=0 is its default). Careful: torch's .std() defaults to "
        "the unbiased ddof=1 estimate; pass unbiased=False / correction=0 there."),
    "zero-std-not-replaced": (
        "a feature that is constant in the training data has std 0, and dividing by it gives NaN "
        "or inf (the digits have pixels that are always 0).",
        "Replace zero standard deviations by 1: std = np.where(std == 0, 1.0, std)."),
    "missing-zero-grad": (
        "the gradients were never cleared, so PyTorch added each batch's gradient to those of all "
        "earlier batches (.backward() accumulates into .grad) and every step used a growing sum.",
        "Call optimizer.zero_grad() once per batch: at the start of the loop body, or right after "
        "optimizer.step()."),
    "zero-grad-after-backward": (
        "the gradients were zeroed between loss.backward() and optimizer.step(), so the step saw "
        "zero (or no) gradients and the weights did not learn from the batch.",
        "Zero the gradients before the backward pass (first thing in the loop) or after the step, "
        "never between backward and step."),
    "step-before-backward": (
        "optimizer.step() ran before loss.backward() of the same batch, so each update used stale "
        "gradients (from the previous batch, or none at all).",
        "Order each batch as: forward, loss, loss.backward(), (clip), optimizer.step()."),
    "missing-train-mode": (
        "the model was not put in training mode, so layers such as dropout and batch norm behaved "
        "as at evaluation time while training (and a model left in eval mode by evaluate() stays "
        "there for every later epoch).",
        "Call model.train() at the start of train_one_epoch."),
    "loss-tensor-accumulated": (
        "the running loss was kept as a tensor that is still attached to the autograd graph (or a "
        "tensor was returned). Every batch's graph then stays alive until the end of the epoch, "
        "which wastes memory and can run out of it on a real model.",
        "Accumulate plain numbers: total += loss.item() * batch_size, and return a Python float."),
    "mean-of-batch-means": (
        "the batch losses were averaged without weighting by batch size, so the smaller last batch "
        "counts as much as a full one.",
        "Sum loss.item() * len(x) over the batches and divide by the number of examples."),
    "clip-before-backward": (
        "the gradient norm was clipped before loss.backward(), when the gradients were still zero "
        "(or None); backward then wrote unclipped gradients and the step used those.",
        "Clip between backward and step: loss.backward(); "
        "torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm); optimizer.step()."),
    "clip-not-applied": (
        "clip_norm was given but the gradients reaching optimizer.step() had a larger global norm.",
        "When clip_norm is not None, call torch.nn.utils.clip_grad_norm_(model.parameters(), "
        "clip_norm) after backward and before step."),
    "missing-eval-mode": (
        "the model was still in training mode during evaluation, so dropout kept dropping units and "
        "batch norm used (and updated) batch statistics: the scores are noisy and wrong.",
        "Call model.eval() before the evaluation loop."),
    "missing-no-grad": (
        "the forward passes of evaluation ran with gradient tracking on, building an autograd graph "
        "that is never used: it costs memory and time.",
        "Wrap the loop in `with torch.no_grad():` (or `with torch.inference_mode():`)."),
    "scheduler-not-stepped": (
        "the learning-rate scheduler was never (or not every epoch) stepped, so the learning rate "
        "never followed its schedule.",
        "When a scheduler is given, call scheduler.step() once per epoch, after evaluate()."),
    "scheduler-step-misplaced": (
        "scheduler.step() ran at the wrong point of the epoch (before validation, or more than once "
        "per epoch).",
        "Per epoch: train_one_epoch(...), then evaluate(...), then scheduler.step(), exactly once."),
    "best-weights-not-restored": (
        "after training, the model does not hold the weights of the best validation epoch. A common "
        "cause: best = model.state_dict() keeps references to the live tensors, which keep changing, "
        "so the 'saved' weights are the last ones.",
        "Save a copy when the validation loss improves (copy.deepcopy(model.state_dict()) or "
        "{k: v.detach().clone() for k, v in model.state_dict().items()}) and call "
        "model.load_state_dict(best_state) before returning."),
    "patience-off-by-one": (
        "early stopping stopped one epoch too early or too late.",
        "Count epochs since the last improvement (reset to 0 when the val loss drops) and stop as "
        "soon as that count reaches `patience`."),
    "best-epoch-one-based": (
        "best_epoch was counted from 1; the history lists are indexed from 0.",
        "Record the loop index of the best epoch, so that history['val_loss'][best_epoch] is the "
        "best validation loss."),
    "mode-not-restored": (
        "predict left the model in a different mode from the one it found it in, so the code that "
        "called it carries on in the wrong mode: a training loop that peeks at predictions "
        "silently continues in eval mode (dropout off), or an evaluation continues in train mode.",
        "Remember was_training = model.training, call model.eval(), predict under torch.no_grad(), "
        "then model.train(was_training)."),
    "below-target-accuracy": (
        "the trained model is below 95% accuracy on held-out digits.",
        "Standardise the pixels inside the model (or divide by 16), use a small MLP (64 -> 128 -> "
        "10), Adam with lr around 1e-3..1e-2, mini-batches of 32-64, and 20-40 epochs; check the "
        "training loss goes down."),
}

PITFALLS = Pitfalls(LABELS)

# A student's function that calls another of these gets the reference instead (charged once).
STANDINS = ("split_indices", "fit_standardizer", "standardize")


# ---- data -------------------------------------------------------------------------------------

def _split_sizes(n, val_frac, test_frac):
    n_val = int(round(n * val_frac))
    n_test = int(round(n * test_frac))
    return n - n_val - n_test, n_val, n_test


def split_indices(n, val_frac, test_frac, seed):
    _, n_val, n_test = _split_sizes(n, val_frac, test_frac)
    perm = np.random.default_rng(seed).permutation(n)
    test = perm[:n_test]
    val = perm[n_test:n_test + n_val]
    train = perm[n_test + n_val:]
    return train, val, test


def fit_standardizer(x_train):
    x = np.asarray(x_train, dtype=np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    return mean, np.where(std == 0, 1.0, std)


@PITFALLS.variant("fit_standardizer", "std-ddof-1")
def fit_standardizer_ddof1(x_train):
    x = np.asarray(x_train, dtype=np.float64)
    std = x.std(axis=0, ddof=1)
    return x.mean(axis=0), np.where(std == 0, 1.0, std)


@PITFALLS.variant("fit_standardizer", "zero-std-not-replaced")
def fit_standardizer_zero_std(x_train):
    x = np.asarray(x_train, dtype=np.float64)
    return x.mean(axis=0), x.std(axis=0)


@PITFALLS.detector("fit_standardizer", "zero-std-not-replaced")
def fit_standardizer_zero_left(got, x_train):
    std = np.asarray(got[1].detach() if hasattr(got[1], "detach") else got[1], dtype=np.float64)
    return bool(np.any(std == 0)) or not bool(np.all(np.isfinite(std)))


def standardize(x, mean, std):
    return (np.asarray(x, dtype=np.float64) - mean) / std


def prepare_data(x, y, val_frac, test_frac, seed):
    train, val, test = split_indices(len(x), val_frac, test_frac, seed)
    mean, std = fit_standardizer(x[train])
    return tuple((standardize(x[idx], mean, std), y[idx]) for idx in (train, val, test))


# ---- the loop -----------------------------------------------------------------------------------

def train_one_epoch(model, loader, loss_fn, optimizer, clip_norm=None):
    model.train()
    total, count = 0.0, 0
    for xb, yb in loader:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        total += loss.item() * len(xb)
        count += len(xb)
    return total / count


def evaluate(model, loader, loss_fn):
    model.eval()
    total, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            total += loss_fn(logits, yb).item() * len(xb)
            correct += int((logits.argmax(dim=1) == yb).sum())
            count += len(xb)
    return total / count, correct / count


@PITFALLS.variant("evaluate", "mean-of-batch-means")
def evaluate_mean_of_batch_means(model, loader, loss_fn):
    model.eval()
    losses, accuracies = [], []
    with torch.no_grad():
        for xb, yb in loader:
            logits = model(xb)
            losses.append(loss_fn(logits, yb).item())
            accuracies.append((logits.argmax(dim=1) == yb).float().mean().item())
    return sum(losses) / len(losses), sum(accuracies) / len(accuracies)


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    history = {"train_loss": [], "val_loss": [], "val_acc": [], "best_epoch": -1}
    best_loss, best_state, waited = float("inf"), None, 0
    for epoch in range(epochs):
        train_loss = train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm)
        val_loss, val_acc = evaluate(model, val_loader, loss_fn)
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        history["val_acc"].append(val_acc)
        if scheduler is not None:
            scheduler.step()
        if val_loss < best_loss:
            best_loss, waited = val_loss, 0
            history["best_epoch"] = epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            waited += 1
            if patience is not None and waited >= patience:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def predict(model, x):
    was_training = model.training
    model.eval()
    with torch.no_grad():
        out = model(x).argmax(dim=1)
    model.train(was_training)
    return out


class _Standardize(nn.Module):
    def __init__(self, mean, std):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, x):
        return (x - self.mean) / self.std


def train_digits_classifier(x_train, y_train, seed):
    torch.manual_seed(seed)
    x = torch.as_tensor(np.asarray(x_train), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y_train), dtype=torch.int64)
    mean, std = fit_standardizer(x.numpy())
    model = nn.Sequential(_Standardize(mean, std), nn.Linear(64, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(30):
        model.train()
        for idx in torch.randperm(len(x), generator=generator).split(64):
            optimizer.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            optimizer.step()
    return model.eval()
