"""Checks for q17_training_pipeline.

The data functions are called with plain arrays. The loop functions (train_one_epoch, evaluate,
fit, predict, train_digits_classifier) need objects, so each check runs a harness of
`whiteboard.harnesses.q17_training_pipeline` in the worker on the student's function, runs the same
harness here on the reference, and compares the two traces; rules on the student's trace name the
mistake.
"""
import types

import numpy as np
import pytest
import torch

from autograder.references import q17_training_pipeline as REFERENCES  # noqa: N812 - read by the plugin
from whiteboard.grading.checks import CheckFailed
from whiteboard.grading.compare import as_numpy, is_array, mismatch, show
from whiteboard.harnesses import q17_training_pipeline as HARNESSES

ASSIGNMENT = "q17_training_pipeline"
HARNESS_MODULE = "q17_training_pipeline"


# ---- helpers ---------------------------------------------------------------------------------------

def reference_namespace(**replace):
    """The reference module's functions in a fresh dict that is also their globals, so that a
    harness can swap one of them (as it swaps the student's) and the others see the swap."""
    ns: dict = {}
    for name, value in vars(REFERENCES).items():
        if isinstance(value, types.FunctionType) and value.__module__ == REFERENCES.__name__:
            fn = types.FunctionType(value.__code__, ns, value.__name__, value.__defaults__,
                                    value.__closure__)
            fn.__kwdefaults__ = value.__kwdefaults__
            value = fn
        ns[name] = value
    for name, fn in replace.items():
        ns[name] = types.FunctionType(fn.__code__, ns, fn.__name__, fn.__defaults__, fn.__closure__)
    return ns


def expected(harness, params, **replace):
    return getattr(HARNESSES, harness)(reference_namespace(**replace), **params)


def variants_of(function):
    return REFERENCES.PITFALLS.variants.get(function, [])


def plain(x):
    """An index array (numpy, tensor or list) as a 1-D int64 numpy array, or None."""
    try:
        a = as_numpy(x) if is_array(x) else np.asarray(x)
    except Exception:
        return None
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iu"):
        return None
    return a.astype(np.int64)


def size_ok(got, n, frac):
    return abs(got - n * frac) < 2


# ---- split_indices ---------------------------------------------------------------------------------

def check_split(nb, n, val_frac, test_frac, seed):
    called = f"split_indices({n}, {val_frac}, {test_frac}, seed={seed})"
    got, *_ = nb.call("split_indices", n, val_frac, test_frac, seed)
    if not isinstance(got, (tuple, list)) or len(got) != 3:
        raise nb.fail("wrong-type", f"{called} returned {show(got)}; expected a tuple "
                      "(train, val, test) of three 1-D integer index arrays.")
    parts = [plain(p) for p in got]
    for name, raw, p in zip(("train", "val", "test"), got, parts):
        if p is None:
            raise nb.fail("wrong-type", f"{called}: the {name} part is {show(raw)}; expected a "
                          "1-D array of integer indices (np.int64 or torch.long).")
    train, val, test = parts
    everything = np.concatenate(parts)
    if len(np.unique(everything)) != len(everything):
        shared = [f"{a}&{b}" for (a, x), (b, y) in
                  [(("train", train), ("val", val)), (("train", train), ("test", test)),
                   (("val", val), ("test", test))] if np.intersect1d(x, y).size]
        where = f"shared by {', '.join(shared)}" if shared else "repeated inside one split"
        raise nb.fail("overlapping-splits", f"{called}: some indices appear more than once "
                      f"({where}); sizes {len(train)}, {len(val)}, {len(test)} for n = {n}.")
    if len(everything) != n or everything.min(initial=0) < 0 or everything.max(initial=0) >= n:
        raise nb.fail("wrong-value", f"{called}: together the three splits hold {len(everything)} "
                      f"distinct indices, expected every index 0..{n - 1} exactly once.")
    if not (size_ok(len(val), n, val_frac) and size_ok(len(test), n, test_frac)):
        raise nb.fail("wrong-value", f"{called}: val has {len(val)} and test {len(test)} indices; "
                      f"expected about n*val_frac = {n * val_frac:g} and n*test_frac = "
                      f"{n * test_frac:g} (rounded).")
    return train, val, test


def contiguous(idx):
    return idx.size == 0 or np.array_equal(np.sort(idx), np.arange(idx.min(), idx.min() + idx.size))


@pytest.mark.grades("split_indices")
class TestSplitIndices:
    @pytest.mark.points(2)
    def test_disjoint_and_covering(self, nb):
        check_split(nb, 50, 0.2, 0.1, 0)

    @pytest.mark.points(1)
    def test_shuffled(self, nb):
        parts = check_split(nb, 40, 0.25, 0.25, 3)
        if all(contiguous(p) for p in parts):
            raise nb.fail("unshuffled-split", "split_indices(40, 0.25, 0.25, seed=3) returned "
                          f"contiguous blocks of 0..39: {show(parts[0])}, {show(parts[1])}, "
                          f"{show(parts[2])}.")

    @pytest.mark.points(1)
    def test_seed_controls_split(self, nb):
        a = check_split(nb, 30, 0.2, 0.2, 1)
        again = check_split(nb, 30, 0.2, 0.2, 1)
        b = check_split(nb, 30, 0.2, 0.2, 2)
        if any(not np.array_equal(x, y) for x, y in zip(a, again)):
            raise nb.fail("wrong-value", "split_indices(30, 0.2, 0.2, seed=1) gave different "
                          "splits on two calls: draw the permutation from a generator seeded "
                          "with `seed`, e.g. np.random.default_rng(seed).")
        if all(np.array_equal(x, y) for x, y in zip(a, b)):
            raise nb.fail("wrong-value", "split_indices gave the same split for seed=1 and seed=2: "
                          "`seed` must choose the permutation (np.random.default_rng(seed)).")

    @pytest.mark.points(1)
    def test_uneven_sizes_and_empty_test(self, nb):
        check_split(nb, 103, 0.15, 0.15, 4)
        check_split(nb, 20, 0.25, 0.0, 5)


# ---- fit_standardizer / standardize ---------------------------------------------------------------

def features(seed, n, d, constant=()):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 10, size=d) + rng.uniform(-5, 5, size=d)
    for j in constant:
        x[:, j] = 3.0
    return x


@pytest.mark.grades("fit_standardizer")
class TestFitStandardizer:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("fit_standardizer", features(0, 20, 5), names=("x_train",))

    @pytest.mark.points(1)
    def test_population_std(self, nb):
        nb.expect("fit_standardizer", features(1, 6, 3), names=("x_train",))

    @pytest.mark.points(1)
    def test_constant_feature(self, nb):
        nb.expect("fit_standardizer", features(2, 12, 4, constant=(1,)), names=("x_train",))


@pytest.mark.grades("standardize")
class TestStandardize:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        x = features(3, 8, 4)
        nb.expect("standardize", x, np.array([1.0, -2.0, 0.5, 3.0]), np.array([2.0, 0.5, 1.0, 4.0]),
                  names=("x", "mean", "std"))

    @pytest.mark.points(1)
    def test_new_data_with_train_statistics(self, nb):
        mean, std = REFERENCES.fit_standardizer(features(4, 30, 3))
        nb.expect("standardize", features(5, 5, 3), mean, std, names=("x", "mean", "std"))


# ---- prepare_data -----------------------------------------------------------------------------------

def check_prepare(nb, seed, n, val_frac, test_frac):
    x = features(100 + seed, n, 4, constant=(2,))
    y = np.random.default_rng(200 + seed).permutation(n).astype(np.int64) + 10  # one id per row
    called = f"prepare_data(x, y, {val_frac}, {test_frac}, seed={seed}) with x {x.shape}, y {y.shape}"
    got, args_after, _, _ = nb.call("prepare_data", x, y, val_frac, test_frac, seed)
    if mismatch(args_after[0], x, rtol=0, atol=0) or mismatch(args_after[1], y, rtol=0, atol=0):
        raise nb.fail("mutates-input", f"{called} changed x or y in place.")
    if not isinstance(got, (tuple, list)) or len(got) != 3 or not all(
            isinstance(p, (tuple, list)) and len(p) == 2 for p in got):
        raise nb.fail("wrong-type", f"{called} returned {show(got)}; expected "
                      "((x_train, y_train), (x_val, y_val), (x_test, y_test)).")
    row_of = {int(v): i for i, v in enumerate(y)}
    rows, xs = [], []
    for name, (xs_part, ys_part) in zip(("train", "val", "test"), got):
        yy = plain(ys_part)
        if yy is None or not is_array(xs_part):
            raise nb.fail("wrong-type", f"{called}: the {name} pair is ({show(xs_part)}, "
                          f"{show(ys_part)}); expected an (k, 4) array and a (k,) integer array.")
        xx = as_numpy(xs_part).astype(np.float64)
        if xx.shape != (len(yy), x.shape[1]):
            raise nb.fail("wrong-shape", f"{called}: x_{name} has shape {xx.shape} but y_{name} has "
                          f"{len(yy)} labels; expected ({len(yy)}, {x.shape[1]}).")
        if any(int(v) not in row_of for v in yy):
            raise nb.fail("wrong-value", f"{called}: y_{name} holds values that are not in y: "
                          "the labels must be y[idx], untouched.")
        rows.append(np.array([row_of[int(v)] for v in yy], dtype=np.int64))
        xs.append(xx)
    every = np.concatenate(rows)
    if len(np.unique(every)) != len(every):
        raise nb.fail("overlapping-splits", f"{called}: some examples are in more than one split.")
    if len(every) != n:
        raise nb.fail("wrong-value", f"{called}: the splits hold {len(every)} of the {n} examples.")
    if not (size_ok(len(rows[1]), n, val_frac) and size_ok(len(rows[2]), n, test_frac)):
        raise nb.fail("wrong-value", f"{called}: split sizes {[len(r) for r in rows]}, expected "
                      f"about {n * val_frac:g} for val and {n * test_frac:g} for test.")

    def standardised_with(stats_for):
        return [REFERENCES.standardize(x[r], *stats_for(r)) for r in rows]

    train_stats = REFERENCES.fit_standardizer(x[rows[0]])
    want = standardised_with(lambda r: train_stats)
    bad = [i for i in range(3) if mismatch(xs[i], want[i], rtol=1e-5, atol=1e-6)]
    if not bad:
        return
    names = ("x_train", "x_val", "x_test")
    candidates = [
        ("leakage-stats-from-all-data", standardised_with(lambda r: REFERENCES.fit_standardizer(x))),
        ("split-standardised-separately",
         standardised_with(lambda r: REFERENCES.fit_standardizer(x[r]))),
    ]
    for label, alt in candidates:
        if all(mismatch(xs[i], alt[i], rtol=1e-5, atol=1e-6) is None for i in range(3)):
            raise nb.fail(label, f"{called}: {names[bad[0]]} is not standardised with the training "
                          f"split's mean {show(train_stats[0])} and std {show(train_stats[1])}.")
    if all(mismatch(xs[i], x[r], rtol=1e-5, atol=1e-6) is None for i, r in enumerate(rows)):
        raise nb.fail("wrong-value", f"{called}: the features came back unstandardised; apply "
                      "standardize(x_split, mean, std) with the training split's statistics.")
    i = bad[0]
    raise nb.fail("wrong-value", f"{called}: {names[i]} does not match its rows of x (found through "
                  f"y) standardised with the training statistics:\n  expected: {show(want[i])}\n"
                  f"  got:      {show(xs[i])}\n  (are x and y indexed with the same indices?)")


@pytest.mark.grades("prepare_data")
class TestPrepareData:
    @pytest.mark.points(2)
    def test_splits_and_standardises(self, nb):
        check_prepare(nb, 0, 40, 0.25, 0.25)

    @pytest.mark.points(2)
    def test_train_only_statistics(self, nb):
        check_prepare(nb, 1, 57, 0.2, 0.3)


# ---- train_one_epoch ---------------------------------------------------------------------------------

def epoch_problem(trace, clip_norm):
    """(label, message) for the first training-loop mistake in the events, or None."""
    backward_since_step = False
    clip_early = False
    stale_batch = None
    steps = 0
    for ev in trace["events"]:
        kind = ev[0]
        if kind == "clip" and not backward_since_step:
            clip_early = True
        elif kind == "backward":
            backward_since_step = True
            if ev[1] and stale_batch is None:
                stale_batch = steps
        elif kind == "step":
            batch = steps + 1
            if not backward_since_step:
                return ("step-before-backward", f"optimizer.step() of batch {batch} ran before any "
                        "loss.backward() of that batch.")
            if ev[1] == 0.0:
                return ("zero-grad-after-backward", f"at optimizer.step() of batch {batch} every "
                        "gradient was zero or None although backward had run.")
            if clip_norm is not None and ev[1] > clip_norm * (1 + 1e-3) + 1e-6:
                label = "clip-before-backward" if clip_early else "clip-not-applied"
                return (label, f"with clip_norm={clip_norm}, the gradients at optimizer.step() of "
                        f"batch {batch} had global norm {ev[1]:.4g}" +
                        (" (clip_grad_norm_ was called before backward)." if clip_early else "."))
            if stale_batch is not None:
                return ("missing-zero-grad", f"when loss.backward() of batch {stale_batch + 1} ran, "
                        "the parameters' .grad still held the previous batch's gradients.")
            steps += 1
            backward_since_step = clip_early = False
    if stale_batch is not None:
        return ("missing-zero-grad", f"when loss.backward() of batch {stale_batch + 1} ran, the "
                "parameters' .grad still held the previous batch's gradients.")
    if steps != trace["n_batches"]:
        return ("wrong-value", f"optimizer.step() ran {steps} times for {trace['n_batches']} "
                "batches; take exactly one step per batch.")
    forwards = [ev for ev in trace["events"] if ev[0] == "forward"]
    if any(not ev[1] for ev in forwards):
        return ("missing-train-mode", "the model was called in eval mode (it was handed to "
                "train_one_epoch in eval mode, as after evaluate()).")
    return None


def check_epoch(nb, params, *, check_return=False):
    desc = (f"train_one_epoch on a loader of {params.get('n', 12)} examples (batches of "
            f"{params.get('batch_size', 4)}), model starting in {params.get('start_mode', 'train')} "
            f"mode, clip_norm={params.get('clip_norm')}")
    got = nb.run("train_one_epoch", HARNESS_MODULE, "train_epoch_trace", params)
    problem = epoch_problem(got, params.get("clip_norm"))
    if problem:
        raise nb.fail(problem[0], f"{desc}: {problem[1]}")
    if check_return:
        ret = got["returned"]
        if ret["is_tensor"]:
            raise nb.fail("loss-tensor-accumulated", f"{desc} returned a {ret['type']} "
                          f"({'attached to the graph' if ret['requires_grad'] else 'detached'}); "
                          "return a Python float.")
        if got["kept_graph"]:
            raise nb.fail("loss-tensor-accumulated", f"{desc}: the losses of several batches were "
                          "added up as tensors that still require grad.")
        if ret["value"] is None:
            raise nb.fail("wrong-type", f"{desc} returned a {ret['type']}; expected a float, the "
                          "example-weighted mean loss.")
        losses = np.array([b[0] for b in got["batch_losses"]])
        sizes = np.array([b[1] for b in got["batch_losses"]])
        weighted = float((losses * sizes).sum() / max(1, sizes.sum()))
        if mismatch(ret["value"], weighted, rtol=1e-4, atol=1e-6):
            label = "wrong-value"
            if len(losses) and mismatch(ret["value"], float(losses.mean()), rtol=1e-4, atol=1e-6) is None:
                label = "mean-of-batch-means"
            raise nb.fail(label, f"{desc} returned {ret['value']:.6g}; the batch losses were "
                          f"{show(losses)} on batches of {show(sizes)}, whose example-weighted "
                          f"mean is {weighted:.6g}.")
    want = expected("train_epoch_trace", params)
    for i, (g, w) in enumerate(zip(got["weights"], want["weights"])):
        problem = mismatch(g, w, rtol=1e-4, atol=1e-5)
        if problem:
            raise nb.fail(problem[0], f"{desc}: after the epoch, parameter {i} differs from what "
                          f"forward, backward, (clip,) step per batch gives ({problem[1]}).")


@pytest.mark.grades("train_one_epoch")
class TestTrainOneEpoch:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        check_epoch(nb, dict(seed=0, n=12, batch_size=4))

    @pytest.mark.points(1)
    def test_sets_train_mode(self, nb):
        check_epoch(nb, dict(seed=1, n=8, batch_size=4, start_mode="eval"))

    @pytest.mark.points(2)
    def test_clips_gradient_norm(self, nb):
        check_epoch(nb, dict(seed=2, n=12, batch_size=4, clip_norm=0.05))

    @pytest.mark.points(2)
    def test_returns_example_weighted_float(self, nb):
        check_epoch(nb, dict(seed=3, n=10, batch_size=4), check_return=True)


# ---- evaluate ------------------------------------------------------------------------------------------

def check_evaluate(nb, params):
    desc = (f"evaluate on a loader of {params['n']} examples (batches of {params['batch_size']}), "
            f"model starting in {params['start_mode']} mode")
    got = nb.run("evaluate", HARNESS_MODULE, "evaluate_trace", params)
    forwards = [ev for ev in got["events"] if ev[0] == "forward"]
    if not forwards:
        raise nb.fail("wrong-value", f"{desc}: the model was never called.")
    if any(ev[1] for ev in forwards):
        raise nb.fail("missing-eval-mode", f"{desc}: the model ran in training mode.")
    if any(ev[2] for ev in forwards):
        raise nb.fail("missing-no-grad", f"{desc}: the forward passes ran with gradient tracking on.")
    if got["weights_changed"]:
        raise nb.fail("wrong-value", f"{desc}: the weights changed; evaluation must not train.")
    if not got["is_pair"]:
        raise nb.fail("wrong-type", f"{desc} returned a {got['returned']['type']}; expected a "
                      "tuple (mean_loss, accuracy).")
    want = expected("evaluate_trace", params)
    for what in ("loss", "accuracy"):
        g, w = got[what]["value"], want[what]["value"]
        if g is None:
            raise nb.fail("wrong-type", f"{desc}: {what} is a {got[what]['type']}; expected a float.")
        if mismatch(g, w, rtol=1e-4, atol=1e-6):
            label = "wrong-value"
            for name, variant in variants_of("evaluate"):
                alt = expected("evaluate_trace", params, evaluate=variant)
                if mismatch(g, alt[what]["value"], rtol=1e-4, atol=1e-6) is None:
                    label = name
                    break
            raise nb.fail(label, f"{desc}: {what} = {g:.6g}, expected {w:.6g} (the example-weighted "
                          f"mean over all {params['n']} examples" +
                          (", as a fraction in [0, 1])." if what == "accuracy" else ")."))


@pytest.mark.grades("evaluate")
class TestEvaluate:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        check_evaluate(nb, dict(seed=0, n=12, batch_size=4, start_mode="eval"))

    @pytest.mark.points(1)
    def test_uses_eval_mode(self, nb):
        check_evaluate(nb, dict(seed=1, n=8, batch_size=4, start_mode="train"))

    @pytest.mark.points(1)
    def test_disables_grad(self, nb):
        check_evaluate(nb, dict(seed=2, n=6, batch_size=3, start_mode="eval"))

    @pytest.mark.points(1)
    def test_weighted_over_uneven_batches(self, nb):
        check_evaluate(nb, dict(seed=3, n=10, batch_size=4, start_mode="train"))


# ---- fit ---------------------------------------------------------------------------------------------------

def check_fit(nb, script, *, check_scheduler=False, check_weights=False, check_clip=False):
    params = dict(script)
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if k in
                      ("epochs", "patience", "clip_norm", "scheduler"))
    desc = f"fit({shown}) with val losses {params['val_losses']}"
    got = nb.run("fit", HARNESS_MODULE, "fit_trace", params)
    want = expected("fit_trace", params)
    history = got["history"]
    if history is None:
        raise nb.fail("wrong-type", f"{desc} returned a {got['history_type']}; expected the history "
                      "dict.")
    keys = ("train_loss", "val_loss", "val_acc", "best_epoch")
    missing = [k for k in keys if k not in history]
    if missing:
        raise nb.fail("wrong-shape", f"{desc}: the history has no {', '.join(map(repr, missing))} "
                      f"(its keys: {sorted(map(str, history))}).")
    calls = got["calls"]
    trains = [c for c in calls if c[0] == "train"]
    evals = [c for c in calls if c[0] == "eval" and c[2]]
    n_ref = len([c for c in want["calls"] if c[0] == "train"])
    if not trains:
        raise nb.fail("wrong-value", f"{desc}: train_one_epoch was never called; each epoch must "
                      "call train_one_epoch(model, train_loader, loss_fn, optimizer, clip_norm).")
    if any(not (c[3] and c[4]) for c in trains):
        raise nb.fail("wrong-value", f"{desc}: train_one_epoch was not given the model and "
                      "train_loader.")
    order = [(c[0], c[1]) for c in calls if c[0] == "train" or (c[0] == "eval" and c[2])]
    if order != [(kind, e) for e in range(len(trains)) for kind in ("train", "eval")]:
        raise nb.fail("wrong-value", f"{desc}: per epoch, call train_one_epoch and then evaluate on "
                      f"val_loader exactly once each; the calls were {order[:12]}.")
    if len(trains) != n_ref:
        patience = params.get("patience")
        near = {epochs_until_stop(params["val_losses"], params["epochs"], p)
                for p in (patience - 1, patience + 1)} if patience else set()
        label = "patience-off-by-one" if len(trains) in near else "wrong-value"
        raise nb.fail(label, f"{desc}: ran {len(trains)} epochs, expected {n_ref} "
                      f"(patience={params.get('patience')}: stop once that many epochs in a row "
                      "bring no lower validation loss).")
    if check_clip and any(c[2] != params["clip_norm"] for c in trains):
        raise nb.fail("wrong-value", f"{desc}: train_one_epoch received clip_norm="
                      f"{[c[2] for c in trains][0]}; pass fit's clip_norm on.")
    for key in keys[:3]:
        problem = mismatch(history[key], want["history"][key])
        if problem:
            raise nb.fail(problem[0], f"{desc}: history[{key!r}] is {show(history[key])}, expected "
                          f"{show(want['history'][key])} ({problem[1]}).")
    best, want_best = history["best_epoch"], want["history"]["best_epoch"]
    if mismatch(best, want_best):
        label = "best-epoch-one-based" if mismatch(best, want_best + 1) is None else "wrong-value"
        raise nb.fail(label, f"{desc}: best_epoch = {show(best)}, expected {want_best} (0-based: "
                      f"the epoch with the lowest val loss {min(params['val_losses'][:n_ref])}).")
    if check_scheduler:
        check_scheduler_calls(nb, desc, calls, len(trains), stopped_early=n_ref < params["epochs"])
    if check_weights and not (got["weights_uniform"] and got["weights_value"] == want_best + 1):
        what = (f"the weights of epoch {int(got['weights_value']) - 1}" if got["weights_uniform"]
                and float(got["weights_value"]).is_integer() and got["weights_value"] >= 1
                else "weights from no epoch")
        raise nb.fail("best-weights-not-restored", f"{desc}: (our stand-in train_one_epoch sets "
                      f"every weight to epoch + 1) after fit the model holds {what}, expected "
                      f"those of the best epoch {want_best}.")


def epochs_until_stop(val_losses, epochs, patience):
    """How many epochs early stopping with this patience runs on a script of val losses."""
    best, waited = float("inf"), 0
    for epoch in range(epochs):
        if val_losses[epoch] < best:
            best, waited = val_losses[epoch], 0
        else:
            waited += 1
            if patience is not None and waited >= patience:
                return epoch + 1
    return epochs


def check_scheduler_calls(nb, desc, calls, epochs_run, stopped_early):
    steps = [i for i, c in enumerate(calls) if c[0] == "sched"]
    if not steps:
        raise nb.fail("scheduler-not-stepped", f"{desc}: scheduler.step() was never called.")
    # Which epoch each step belongs to: the number of evaluations before it.
    per_epoch = [0] * epochs_run
    for i in steps:
        evals_before = sum(1 for c in calls[:i] if c[0] == "eval" and c[2])
        trains_before = sum(1 for c in calls[:i] if c[0] == "train")
        if evals_before < trains_before or evals_before == 0:
            raise nb.fail("scheduler-step-misplaced", f"{desc}: scheduler.step() ran during epoch "
                          f"{trains_before - 1} before its evaluate().")
        per_epoch[evals_before - 1] += 1
    if any(k > 1 for k in per_epoch):
        raise nb.fail("scheduler-step-misplaced", f"{desc}: scheduler.step() ran {max(per_epoch)} "
                      "times in one epoch; step it once per epoch.")
    allowed_missing = {epochs_run - 1} if stopped_early else set()
    missing = [e for e, k in enumerate(per_epoch) if k == 0 and e not in allowed_missing]
    if missing:
        raise nb.fail("scheduler-not-stepped", f"{desc}: scheduler.step() was not called after "
                      f"epoch(s) {missing}; {len(steps)} steps in {epochs_run} epochs.")


FIT_PLAIN = dict(train_losses=[1.2, 0.9, 0.7, 0.6], val_losses=[1.0, 0.8, 0.85, 0.7],
                 val_accs=[0.5, 0.6, 0.58, 0.7], epochs=4)
FIT_EARLY = dict(train_losses=[1.3, 1.0, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3],
                 val_losses=[1.1, 0.9, 0.6, 0.65, 0.7, 0.5, 0.45, 0.4],
                 val_accs=[0.4, 0.5, 0.7, 0.68, 0.66, 0.8, 0.82, 0.85], epochs=8, patience=2)
FIT_LATE_BEST = dict(train_losses=[1.0, 0.8, 0.6, 0.5, 0.4], val_losses=[1.0, 0.55, 0.6, 0.7, 0.8],
                     val_accs=[0.5, 0.75, 0.74, 0.73, 0.7], epochs=5, patience=10)


@pytest.mark.grades("fit")
class TestFit:
    @pytest.mark.points(2)
    def test_history_and_best_epoch(self, nb):
        check_fit(nb, FIT_PLAIN)

    @pytest.mark.points(2)
    def test_early_stopping(self, nb):
        check_fit(nb, FIT_EARLY, check_weights=True)

    @pytest.mark.points(2)
    def test_restores_best_weights(self, nb):
        check_fit(nb, FIT_LATE_BEST, check_weights=True)

    @pytest.mark.points(1)
    def test_scheduler_stepped_per_epoch(self, nb):
        check_fit(nb, dict(FIT_PLAIN, scheduler=True), check_scheduler=True)
        check_fit(nb, dict(FIT_EARLY, scheduler=True), check_scheduler=True)

    @pytest.mark.points(1)
    def test_passes_clip_norm(self, nb):
        check_fit(nb, dict(FIT_PLAIN, clip_norm=0.5), check_clip=True)


# ---- predict ----------------------------------------------------------------------------------------------

def check_predict(nb, params):
    desc = f"predict on a batch of {params['batch']}, model starting in {params['start_mode']} mode"
    got = nb.run("predict", HARNESS_MODULE, "predict_trace", params)
    forwards = [ev for ev in got["events"] if ev[0] == "forward"]
    if not forwards:
        raise nb.fail("wrong-value", f"{desc}: the model was never called.")
    if any(ev[1] for ev in forwards):
        raise nb.fail("missing-eval-mode", f"{desc}: the model ran in training mode, where (like "
                      "dropout) our test model's outputs differ from eval mode.")
    if any(ev[2] for ev in forwards):
        raise nb.fail("missing-no-grad", f"{desc}: the forward pass ran with gradient tracking on.")
    if got["mode_after"] != (params["start_mode"] == "train") or not got["all_modules_same_mode"]:
        raise nb.fail("mode-not-restored", f"{desc}: afterwards the model is in "
                      f"{'train' if got['mode_after'] else 'eval'} mode.")
    if not got["is_tensor"] or got["dtype"] != "int64":
        raise nb.fail("wrong-type", f"{desc} returned a {got['type']} ({got['dtype']}); expected "
                      "a torch.LongTensor of class ids: logits.argmax(dim=1).")
    want = expected("predict_trace", params)
    problem = mismatch(got["value"], want["value"])
    if problem:
        raise nb.fail(problem[0], f"{desc}:\n  expected: {show(want['value'])}\n  got:      "
                      f"{show(got['value'])}\n  ({problem[1]}; the class id is the argmax of the "
                      "logits over dim 1)")


@pytest.mark.grades("predict")
class TestPredict:
    @pytest.mark.points(2)
    def test_argmax_in_eval_mode(self, nb):
        check_predict(nb, dict(seed=0, batch=16, start_mode="eval"))

    @pytest.mark.points(1)
    def test_restores_train_mode(self, nb):
        check_predict(nb, dict(seed=1, batch=8, start_mode="train"))

    @pytest.mark.points(1)
    def test_keeps_eval_mode(self, nb):
        check_predict(nb, dict(seed=2, batch=8, start_mode="eval"))

    @pytest.mark.points(1)
    def test_single_example(self, nb):
        check_predict(nb, dict(seed=3, batch=1, start_mode="train"))


# ---- train_digits_classifier ----------------------------------------------------------------------------

_DIGITS = {}


def load_bundled_digits():
    """scikit-learn's bundled digits as (x, y), read straight from the file load_digits() reads
    (importing sklearn costs more than a second; the file takes 30 ms)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.submodule_search_locations[0]) / "datasets" / "data" / "digits.csv.gz"
    if path.exists():
        table = np.loadtxt(path, delimiter=",")
        return table[:, :-1], table[:, -1]
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data, data.target


def digits_split():
    """A fixed split of scikit-learn's bundled digits: 1437 to train on, 360 held out."""
    if not _DIGITS:
        x, y = load_bundled_digits()
        x = x.astype(np.float32)
        y = y.astype(np.int64)
        perm = np.random.default_rng(17).permutation(len(x))
        test, train = perm[:360], perm[360:]
        _DIGITS.update(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])
    return _DIGITS


def digits_result(nb):
    """Train the student's classifier once per graded notebook; both checks read the outcome."""
    if _DIGITS.get("nb") is not nb:
        d = digits_split()
        params = dict(x_train=d["x_train"], y_train=d["y_train"], x_test=d["x_test"], seed=0)
        _DIGITS.update(nb=nb, result=None, failure=None)
        try:
            _DIGITS["result"] = nb.run("train_digits_classifier", HARNESS_MODULE, "digits_trace",
                                       params, timeout=150)
        except CheckFailed as failure:
            _DIGITS["failure"] = failure
    if _DIGITS["failure"] is not None:
        raise CheckFailed(_DIGITS["failure"].label, _DIGITS["failure"].message)
    if _DIGITS["result"].get("loaded_digits"):
        raise nb.fail("forbidden-api", "train_digits_classifier called sklearn's load_digits: the "
                      "full dataset contains the held-out digits it is graded on. Train only on "
                      "the x_train, y_train it is given.")
    return _DIGITS["result"]


@pytest.mark.grades("train_digits_classifier")
class TestTrainDigitsClassifier:
    @pytest.mark.points(1)
    def test_maps_64_pixels_to_10_logits(self, nb):
        got = digits_result(nb)
        if not got["is_module"]:
            raise nb.fail("wrong-type", f"train_digits_classifier returned a {got['type']}; expected "
                          "the trained torch.nn.Module.")
        if got.get("output_type") != "Tensor":
            raise nb.fail("wrong-type", f"the model returned a {got.get('output_type')} for a batch; "
                          "expected a tensor of logits.")
        if got["small_shape"] != [3, 10] or got["shape"] != [360, 10]:
            raise nb.fail("wrong-shape", f"the model maps a (3, 64) batch of raw pixels to "
                          f"{tuple(got['small_shape'])}; expected logits of shape (3, 10).")

    @pytest.mark.points(4)
    def test_reaches_95_percent(self, nb):
        got = digits_result(nb)
        if not got["is_module"] or "predictions" not in got or got["shape"] != [360, 10]:
            raise nb.fail("wrong-shape", "train_digits_classifier: the model must map (B, 64) raw "
                          "pixels to (B, 10) logits before its accuracy can be measured.")
        acc = float((np.asarray(as_numpy(got["predictions"])) == digits_split()["y_test"]).mean())
        if acc < 0.95:
            raise nb.fail("below-target-accuracy", f"accuracy on 360 held-out digits (raw pixels "
                          f"0..16 fed to your model in eval mode): {acc:.1%}, target 95%.")
