"""q17 training pipeline: the reference implementations and the classic mistakes, as code.

The data functions (split_indices, fit_standardizer, standardize, prepare_data) are checked by
value. The loop functions take objects (a model, a loader, an optimizer, callables) that cannot
cross the process boundary, so their checks run a harness of autograder/harnesses/
q17_training_pipeline.py in the worker on the student's function, and the oracle runs the same
harness on these references (and on each variant below) for the expected trace.
"""
import copy

import numpy as np
import torch
from torch import nn

from autograder.labels.q17_training_pipeline import LABELS
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)

# A student's function that calls another of these gets the reference instead (charged once).
# prepare_data must split with split_indices, so its expected output depends only on its inputs.
STANDINS = ("split_indices", "fit_standardizer", "standardize")


# ---- data -------------------------------------------------------------------------------------

def split_indices(n, val_frac, test_frac, seed):
    n_val = int(round(n * val_frac))
    n_test = int(round(n * test_frac))
    perm = np.random.default_rng(seed).permutation(n)
    test = perm[:n_test]
    val = perm[n_test:n_test + n_val]
    train = perm[n_test + n_val:]
    return train, val, test


def fit_standardizer(x_train):
    x = np.asarray(x_train, dtype=np.float64)
    std = x.std(axis=0)
    return x.mean(axis=0), np.where(std == 0, 1.0, std)


@PITFALLS.variant("fit_standardizer", "std-ddof-1")
def fit_standardizer_ddof1(x_train):
    x = np.asarray(x_train, dtype=np.float64)
    std = x.std(axis=0, ddof=1)
    return x.mean(axis=0), np.where(std == 0, 1.0, std)


@PITFALLS.variant("fit_standardizer", "zero-std-not-replaced")
def fit_standardizer_zero_std(x_train):
    x = np.asarray(x_train, dtype=np.float64)
    return x.mean(axis=0), x.std(axis=0)


def standardize(x, mean, std):
    return (np.asarray(x, dtype=np.float64) - mean) / std


def prepare_data(x, y, val_frac, test_frac, seed):
    train, val, test = split_indices(len(x), val_frac, test_frac, seed)
    mean, std = fit_standardizer(x[train])
    return tuple((standardize(x[idx], mean, std), y[idx]) for idx in (train, val, test))


@PITFALLS.variant("prepare_data", "leakage-stats-from-all-data")
def prepare_data_stats_from_everything(x, y, val_frac, test_frac, seed):
    train, val, test = split_indices(len(x), val_frac, test_frac, seed)
    mean, std = fit_standardizer(x)
    return tuple((standardize(x[idx], mean, std), y[idx]) for idx in (train, val, test))


@PITFALLS.variant("prepare_data", "split-standardised-separately")
def prepare_data_each_split_its_own_stats(x, y, val_frac, test_frac, seed):
    out = []
    for idx in split_indices(len(x), val_frac, test_frac, seed):
        mean, std = fit_standardizer(x[idx])
        out.append((standardize(x[idx], mean, std), y[idx]))
    return tuple(out)


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


def _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, clip_norm,
         patience, *, stop_after=lambda waited, patience: waited >= patience, copy_best=True,
         first_epoch=0):
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
            history["best_epoch"] = epoch + first_epoch
            best_state = copy.deepcopy(model.state_dict()) if copy_best else model.state_dict()
        else:
            waited += 1
            if patience is not None and stop_after(waited, patience):
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    return history


def fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler=None,
        clip_norm=None, patience=None):
    return _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, clip_norm,
                patience)


@PITFALLS.variant("fit", "patience-off-by-one")
def fit_stops_one_epoch_late(model, train_loader, val_loader, loss_fn, optimizer, epochs,
                             scheduler=None, clip_norm=None, patience=None):
    return _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, clip_norm,
                patience, stop_after=lambda waited, patience: waited > patience)


@PITFALLS.variant("fit", "patience-off-by-one")
def fit_stops_one_epoch_early(model, train_loader, val_loader, loss_fn, optimizer, epochs,
                              scheduler=None, clip_norm=None, patience=None):
    return _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, clip_norm,
                patience, stop_after=lambda waited, patience: waited >= patience - 1)


@PITFALLS.variant("fit", "best-epoch-one-based")
def fit_best_epoch_from_one(model, train_loader, val_loader, loss_fn, optimizer, epochs,
                            scheduler=None, clip_norm=None, patience=None):
    return _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, clip_norm,
                patience, first_epoch=1)


@PITFALLS.variant("fit", "best-weights-not-restored")
def fit_keeps_live_state_dict(model, train_loader, val_loader, loss_fn, optimizer, epochs,
                              scheduler=None, clip_norm=None, patience=None):
    return _fit(model, train_loader, val_loader, loss_fn, optimizer, epochs, scheduler, clip_norm,
                patience, copy_best=False)


# ---- choosing hyperparameters ------------------------------------------------------------------

def select_hyperparameters(grid, train_fn, score_fn, train, val, test):
    val_scores, best, best_model = [], None, None
    for i, params in enumerate(grid):
        model = train_fn(params, train)
        val_scores.append(float(score_fn(model, val)))
        if best is None or val_scores[i] > val_scores[best]:
            best, best_model = i, model
    return grid[best], val_scores, float(score_fn(best_model, test))


@PITFALLS.variant("select_hyperparameters", "tuned-on-test")
def select_by_test_score(grid, train_fn, score_fn, train, val, test):
    models = [train_fn(params, train) for params in grid]
    val_scores = [float(score_fn(m, val)) for m in models]
    test_scores = [float(score_fn(m, test)) for m in models]
    best = int(np.argmax(test_scores))
    return grid[best], val_scores, test_scores[best]


@PITFALLS.variant("select_hyperparameters", "tuned-on-train")
def select_by_train_score(grid, train_fn, score_fn, train, val, test):
    models = [train_fn(params, train) for params in grid]
    scores = [float(score_fn(m, train)) for m in models]
    best = int(np.argmax(scores))
    return grid[best], scores, float(score_fn(models[best], test))


@PITFALLS.variant("select_hyperparameters", "test-scored-for-every-candidate")
def select_scoring_test_for_all(grid, train_fn, score_fn, train, val, test):
    models = [train_fn(params, train) for params in grid]
    val_scores = [float(score_fn(m, val)) for m in models]
    test_scores = [float(score_fn(m, test)) for m in models]
    best = int(np.argmax(val_scores))
    return grid[best], val_scores, test_scores[best]


@PITFALLS.variant("select_hyperparameters", "tie-not-first")
def select_last_of_ties(grid, train_fn, score_fn, train, val, test):
    val_scores, best, best_model = [], None, None
    for i, params in enumerate(grid):
        model = train_fn(params, train)
        val_scores.append(float(score_fn(model, val)))
        if best is None or val_scores[i] >= val_scores[best]:
            best, best_model = i, model
    return grid[best], val_scores, float(score_fn(best_model, test))


# ---- using the model ----------------------------------------------------------------------------

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
