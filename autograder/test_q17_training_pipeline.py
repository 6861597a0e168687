"""Checks for q17_training_pipeline.

The data functions are called with plain arrays and compared with the oracle's values. The loop
functions (train_one_epoch, evaluate, fit, select_hyperparameters, predict,
train_digits_classifier) need objects, so each check runs a harness of
autograder/harnesses/q17_training_pipeline.py in the worker on the student's function, asks the
oracle for the same harness's trace on the references (nb.trace) and, on a mismatch, with each
pitfall variant swapped in (nb.variant_traces). Rules on the student's own trace (the order of
backward and step, the mode of each forward, the splits each call saw) name the mistakes that no
single variant captures. Inputs come from nb.rng / nb.seed, so the hidden run varies them.
"""
import numpy as np
import pytest

from whiteboard.grading.checks import CheckFailed
from whiteboard.grading.compare import as_numpy, is_array, mismatch, show


# ---- helpers ---------------------------------------------------------------------------------------

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


def named_by_variants(nb, harness, params, function, got, pick, **tolerance):
    """The label of the first pitfall variant whose trace agrees with the student's on `pick`."""
    def same(g, v):
        return mismatch(pick(g), pick(v), equal_nan=True, **tolerance) is None

    return nb.match_variant(got, nb.variant_traces(harness, params, function), same)


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
        """every index in exactly one split, about the asked sizes"""
        check_split(nb, 50 + nb.rng(0).integers(0, 30), 0.2, 0.1, nb.seed(0))

    @pytest.mark.points(1)
    def test_shuffled(self, nb):
        """the split is shuffled, not three blocks of 0..n-1"""
        n, seed = 40, nb.seed(3)
        parts = check_split(nb, n, 0.25, 0.25, seed)
        if all(contiguous(p) for p in parts):
            raise nb.fail("unshuffled-split", f"split_indices({n}, 0.25, 0.25, seed={seed}) "
                          f"returned contiguous blocks of 0..{n - 1}: {show(parts[0])}, "
                          f"{show(parts[1])}, {show(parts[2])}.")

    @pytest.mark.points(1)
    def test_seed_controls_split(self, nb):
        """the same seed gives the same split, another seed another"""
        seed = nb.seed(1)
        other = seed + 1
        a = check_split(nb, 30, 0.2, 0.2, seed)
        again = check_split(nb, 30, 0.2, 0.2, seed)
        b = check_split(nb, 30, 0.2, 0.2, other)
        if any(not np.array_equal(x, y) for x, y in zip(a, again)):
            raise nb.fail("wrong-value", f"split_indices(30, 0.2, 0.2, seed={seed}) gave different "
                          "splits on two calls: draw the permutation from a generator seeded "
                          "with `seed`, e.g. np.random.default_rng(seed).")
        if all(np.array_equal(x, y) for x, y in zip(a, b)):
            raise nb.fail("wrong-value", f"split_indices gave the same split for seed={seed} and "
                          f"seed={other}: `seed` must choose the permutation "
                          "(np.random.default_rng(seed)).")

    @pytest.mark.points(1)
    def test_uneven_sizes_and_empty_test(self, nb):
        """sizes that do not divide evenly, and test_frac = 0"""
        check_split(nb, 103, 0.15, 0.15, nb.seed(4))
        check_split(nb, 20, 0.25, 0.0, nb.seed(5))


# ---- fit_standardizer / standardize ---------------------------------------------------------------

def features(nb, k, n, d, constant=()):
    rng = nb.rng(k)
    x = rng.normal(size=(n, d)) * rng.uniform(0.5, 10, size=d) + rng.uniform(-5, 5, size=d)
    for j in constant:
        x[:, j] = float(rng.integers(-4, 5))  # an integer: its mean is exact, its std exactly 0
    return x


@pytest.mark.grades("fit_standardizer")
class TestFitStandardizer:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """per-feature mean and std of 20 examples"""
        nb.expect("fit_standardizer", features(nb, 0, 20, 5))

    @pytest.mark.points(1)
    def test_population_std(self, nb):
        """the population std (ddof 0) of 6 examples"""
        nb.expect("fit_standardizer", features(nb, 1, 6, 3))

    @pytest.mark.points(1)
    def test_constant_feature(self, nb):
        """a constant feature gets std 1, not 0"""
        nb.expect("fit_standardizer", features(nb, 2, 12, 4, constant=(1,)))


@pytest.mark.grades("standardize")
class TestStandardize:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """8 examples with given statistics"""
        rng = nb.rng(3)
        nb.expect("standardize", features(nb, 3, 8, 4), rng.normal(size=4), rng.uniform(0.5, 4, 4))

    @pytest.mark.points(1)
    def test_new_data_with_train_statistics(self, nb):
        """new examples with statistics fitted elsewhere"""
        rng = nb.rng(4)
        nb.expect("standardize", features(nb, 5, 5, 3), rng.normal(size=3) * 5,
                  rng.uniform(0.1, 10, 3))


# ---- prepare_data -----------------------------------------------------------------------------------

def labelled_data(nb, k, n):
    x = features(nb, 100 + k, n, 4, constant=(2,))
    y = nb.rng(200 + k).integers(0, 3, size=n)
    return x, y


@pytest.mark.grades("prepare_data")
class TestPrepareData:
    @pytest.mark.points(3)
    def test_splits_and_standardises(self, nb):
        """the three splits of split_indices, standardised"""
        x, y = labelled_data(nb, 0, 40)
        nb.expect("prepare_data", x, y, 0.25, 0.25, nb.seed(0))

    @pytest.mark.points(3)
    def test_train_only_statistics(self, nb):
        """validation and test use the training split's statistics"""
        x, y = labelled_data(nb, 1, 57)
        nb.expect("prepare_data", x, y, 0.2, 0.3, nb.seed(1))


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
    got = nb.run("train_one_epoch", "train_epoch_trace", params)
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
    want = nb.trace("train_epoch_trace", params, "train_one_epoch")
    for i, (g, w) in enumerate(zip(got["weights"], want["weights"])):
        problem = mismatch(g, w, rtol=1e-4, atol=1e-5)
        if problem:
            raise nb.fail(problem[0], f"{desc}: after the epoch, parameter {i} differs from what "
                          f"one correct update per batch gives ({problem[1]}).")


@pytest.mark.grades("train_one_epoch")
class TestTrainOneEpoch:
    @pytest.mark.points(4)
    def test_matches_reference(self, nb):
        """three batches: the weights after one epoch"""
        check_epoch(nb, dict(seed=nb.seed(0), n=12, batch_size=4))

    @pytest.mark.points(2)
    def test_sets_train_mode(self, nb):
        """a model handed over in eval mode trains in train mode"""
        check_epoch(nb, dict(seed=nb.seed(1), n=8, batch_size=4, start_mode="eval"))

    @pytest.mark.points(2)
    def test_clips_gradient_norm(self, nb):
        """with clip_norm, every step sees a clipped gradient"""
        clip = float(np.round(nb.rng(2).uniform(0.03, 0.08), 3))
        check_epoch(nb, dict(seed=nb.seed(2), n=12, batch_size=4, clip_norm=clip))

    @pytest.mark.points(2)
    def test_returns_example_weighted_float(self, nb):
        """returns the example-weighted mean loss as a float"""
        check_epoch(nb, dict(seed=nb.seed(3), n=10, batch_size=4), check_return=True)


# ---- evaluate ------------------------------------------------------------------------------------------

def check_evaluate(nb, params):
    desc = (f"evaluate on a loader of {params['n']} examples (batches of {params['batch_size']}), "
            f"model starting in {params['start_mode']} mode")
    got = nb.run("evaluate", "evaluate_trace", params)
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
    want = nb.trace("evaluate_trace", params, "evaluate")
    for what in ("loss", "accuracy"):
        g, w = got[what]["value"], want[what]["value"]
        if g is None:
            raise nb.fail("wrong-type", f"{desc}: {what} is a {got[what]['type']}; expected a float.")
        if mismatch(g, w, rtol=1e-4, atol=1e-6):
            label = named_by_variants(nb, "evaluate_trace", params, "evaluate", got,
                                      lambda t: t[what]["value"], rtol=1e-4, atol=1e-6)
            raise nb.fail(label or "wrong-value",
                          f"{desc}: {what} = {g:.6g}, expected {w:.6g} (over all {params['n']} "
                          "examples" + (", as a fraction in [0, 1])." if what == "accuracy" else ")."))


@pytest.mark.grades("evaluate")
class TestEvaluate:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """mean loss and accuracy over 3 batches"""
        check_evaluate(nb, dict(seed=nb.seed(0), n=12, batch_size=4, start_mode="eval"))

    @pytest.mark.points(1)
    def test_uses_eval_mode(self, nb):
        """a model handed over in train mode is measured in eval mode"""
        check_evaluate(nb, dict(seed=nb.seed(1), n=8, batch_size=4, start_mode="train"))

    @pytest.mark.points(1)
    def test_disables_grad(self, nb):
        """no autograd graph while measuring"""
        check_evaluate(nb, dict(seed=nb.seed(2), n=6, batch_size=3, start_mode="eval"))

    @pytest.mark.points(1)
    def test_weighted_over_uneven_batches(self, nb):
        """a smaller last batch counts by its size"""
        check_evaluate(nb, dict(seed=nb.seed(3), n=10, batch_size=4, start_mode="train"))


# ---- fit ---------------------------------------------------------------------------------------------------

def _decreasing(rng, count, start=1.3, low=0.03, high=0.2):
    values, v = [], start
    for _ in range(count):
        values.append(round(v, 3))
        v -= rng.uniform(low, high)
    return values


def _accs(rng, count):
    return [round(float(a), 3) for a in rng.uniform(0.4, 0.95, count)]


def plain_script(nb, k):
    """Four or five epochs without early stopping; the best validation epoch is not the last."""
    rng = nb.rng(k)
    epochs = int(rng.integers(4, 6))
    best = int(rng.integers(1, epochs - 1))
    val = _decreasing(rng, best + 1)
    val += [round(val[best] + float(rng.uniform(0.02, 0.3)), 3) for _ in range(epochs - best - 1)]
    return dict(train_losses=_decreasing(rng, epochs, 1.2), val_losses=val,
                val_accs=_accs(rng, epochs), epochs=epochs)


def early_script(nb, k):
    """Improvement until `best`, `patience` epochs without one, then lower losses that early
    stopping must never reach."""
    rng = nb.rng(k)
    patience = int(rng.integers(2, 4))
    best = int(rng.integers(1, 4))
    val = _decreasing(rng, best + 1)
    val += [round(val[best] + float(rng.uniform(0.01, 0.3)), 3) for _ in range(patience)]
    val += [round(val[best] - 0.05 * (i + 1), 3) for i in range(3)]
    epochs = len(val)
    return dict(train_losses=_decreasing(rng, epochs, 1.3, 0.02, 0.1), val_losses=val,
                val_accs=_accs(rng, epochs), epochs=epochs, patience=patience)


def late_best_script(nb, k):
    """A large patience that never triggers; the best epoch is early, so the last weights differ."""
    rng = nb.rng(k)
    epochs = int(rng.integers(5, 7))
    best = int(rng.integers(1, epochs - 2))
    val = _decreasing(rng, best + 1, 1.0, 0.2, 0.4)
    val += sorted(round(val[best] + float(rng.uniform(0.02, 0.3)), 3) for _ in range(epochs - best - 1))
    return dict(train_losses=_decreasing(rng, epochs, 1.0, 0.05, 0.15), val_losses=val,
                val_accs=_accs(rng, epochs), epochs=epochs, patience=10)


def check_fit(nb, params, *, check_scheduler=False, check_weights=False, check_clip=False):
    shown = ", ".join(f"{k}={v}" for k, v in params.items() if k in
                      ("epochs", "patience", "clip_norm", "scheduler"))
    desc = f"fit({shown}) with val losses {params['val_losses']}"
    got = nb.run("fit", "fit_trace", params)
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
    want = nb.trace("fit_trace", params, "fit")
    n_want = len([c for c in want["calls"] if c[0] == "train"])
    if len(trains) != n_want:
        label = named_by_variants(nb, "fit_trace", params, "fit", got,
                                  lambda t: len([c for c in t["calls"] if c[0] == "train"]))
        raise nb.fail(label or "wrong-value",
                      f"{desc}: ran {len(trains)} epochs, expected {n_want} (patience="
                      f"{params.get('patience')}: stop once that many epochs in a row bring no "
                      "lower validation loss).")
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
        label = named_by_variants(nb, "fit_trace", params, "fit", got,
                                  lambda t: t["history"]["best_epoch"])
        raise nb.fail(label or "wrong-value", f"{desc}: best_epoch = {show(best)}, expected "
                      f"{want_best} (the epoch of the lowest validation loss, counted as the "
                      "history lists are indexed).")
    if check_scheduler:
        check_scheduler_calls(nb, desc, calls, len(trains), stopped_early=n_want < params["epochs"])
    if check_weights and not (got["weights_uniform"] and got["weights_value"] == want["weights_value"]):
        value = got["weights_value"]
        what = (f"the weights of epoch {int(value) - 1}" if got["weights_uniform"] and value is not None
                and float(value).is_integer() and value >= 1 else "weights from no epoch")
        raise nb.fail("best-weights-not-restored", f"{desc}: (our stand-in train_one_epoch sets "
                      f"every weight to epoch + 1) after fit the model holds {what}, expected "
                      f"those of the best epoch {want_best}.")


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


@pytest.mark.grades("fit")
class TestFit:
    @pytest.mark.points(2)
    def test_history_and_best_epoch(self, nb):
        """the history lists and the 0-based best epoch"""
        check_fit(nb, plain_script(nb, 0))

    @pytest.mark.points(2)
    def test_early_stopping(self, nb):
        """stops after `patience` epochs without a lower validation loss"""
        check_fit(nb, early_script(nb, 1), check_weights=True)

    @pytest.mark.points(2)
    def test_restores_best_weights(self, nb):
        """the model ends with the best epoch's weights"""
        check_fit(nb, late_best_script(nb, 2), check_weights=True)

    @pytest.mark.points(1)
    def test_scheduler_stepped_per_epoch(self, nb):
        """the scheduler steps once per epoch, after validation"""
        check_fit(nb, dict(plain_script(nb, 3), scheduler=True), check_scheduler=True)
        check_fit(nb, dict(early_script(nb, 4), scheduler=True), check_scheduler=True)

    @pytest.mark.points(1)
    def test_passes_clip_norm(self, nb):
        """clip_norm is passed on to train_one_epoch"""
        clip = float(np.round(nb.rng(5).uniform(0.1, 2.0), 2))
        check_fit(nb, dict(plain_script(nb, 5), clip_norm=clip), check_clip=True)


# ---- select_hyperparameters -------------------------------------------------------------------------------

def select_script(nb, k, n=4, tie=False):
    """A grid of n candidates and the score each one's model gets on each split: the best on
    validation, on test and on train are three different candidates."""
    rng = nb.rng(k)
    combos = [(lr, width) for lr in (0.001, 0.003, 0.01, 0.03, 0.1) for width in (16, 32, 64, 128)]
    picked = rng.choice(len(combos), size=n, replace=False)
    grid = [{"lr": combos[i][0], "hidden": combos[i][1]} for i in picked]
    scores = {split: [round(float(s), 3) for s in rng.uniform(0.5, 0.85, n)]
              for split in ("train", "val", "test")}
    if tie:
        twin = int(rng.integers(1, n))            # the later of two candidates with the top score
        best = int(rng.integers(0, twin))         # the earlier one: the winner
        on_test, on_train = (int(i) for i in rng.permutation([i for i in range(n)
                                                               if i not in (best, twin)])[:2])
    else:
        best, on_test, on_train = (int(i) for i in rng.permutation(n)[:3])
        twin = None
    scores["val"][best] = round(0.9 + float(rng.uniform(0, 0.05)), 3)
    if twin is not None:
        scores["val"][twin] = scores["val"][best]
    scores["test"][on_test] = 0.97
    scores["train"][on_train] = 1.0
    return dict(grid=grid, scores=scores)


def check_select(nb, params):
    n = len(params["grid"])
    desc = (f"select_hyperparameters on a grid of {n} candidates (our train_fn and score_fn record "
            f"which split each call saw; the validation scores are {params['scores']['val']})")
    got = nb.run("select_hyperparameters", "select_trace", params)
    if not got["is_triple"]:
        raise nb.fail("wrong-type", f"{desc} returned a {got['type']}; expected a tuple "
                      "(best_params, val_scores, test_score).")
    if got["best_params"] is None:
        raise nb.fail("wrong-type", f"{desc}: best_params is a {got['best_type']}; expected the "
                      "grid's entry (a dict) that won.")
    if got["val_scores"] is None:
        raise nb.fail("wrong-type", f"{desc}: val_scores is a {got['val_scores_type']}; expected a "
                      "list of floats, one per grid entry, in grid order.")
    if got["test_score"] is None:
        raise nb.fail("wrong-type", f"{desc}: test_score is a {got['test_score_type']}; expected a "
                      "float.")
    calls = got["calls"]
    wrong_split = [c for c in calls if c[0] == "train" and c[2] != "train"]
    if wrong_split:
        raise nb.fail("wrong-value", f"{desc}: train_fn was called with the {wrong_split[0][2]} "
                      "split; every candidate trains on `train`.")
    want = nb.trace("select_trace", params, "select_hyperparameters")
    if got["best_index"] != want["best_index"]:
        label = named_by_variants(nb, "select_trace", params, "select_hyperparameters", got,
                                  lambda t: t["best_index"])
        # a grid of a few candidates: the same wrong choice can come from another mistake, so a
        # label is kept only where the calls score_fn saw bear it out
        scored = {split: [c for c in calls if c[0] == "score" and c[2] == split]
                  for split in ("train", "test")}
        if (label == "tuned-on-train" and not scored["train"]
                or label == "tuned-on-test" and len(scored["test"]) < 2):
            label = None
        if label is None and got["best_index"] == int(np.argmin(want["val_scores"])):
            label = "picked-lowest-score"
        chosen = "none of the grid's entries" if got["best_index"] < 0 else \
            f"candidate {got['best_index']} {show(got['best_params'])}"
        raise nb.fail(label or "wrong-value",
                      f"{desc}: chose {chosen}, expected candidate {want['best_index']} "
                      f"{show(want['best_params'])}.")
    problem = mismatch(got["val_scores"], want["val_scores"])
    if problem:
        label = named_by_variants(nb, "select_trace", params, "select_hyperparameters", got,
                                  lambda t: t["val_scores"])
        raise nb.fail(label or problem[0], f"{desc}: val_scores = {show(got['val_scores'])}, "
                      f"expected {show(want['val_scores'])} ({problem[1]}).")
    problem = mismatch(got["test_score"], want["test_score"])
    if problem:
        raise nb.fail(problem[0], f"{desc}: test_score = {show(got['test_score'])}, expected "
                      f"{show(want['test_score'])}, the chosen model's score on the test split.")
    on_test = [c for c in calls if c[0] == "score" and c[2] == "test"]
    if len(on_test) != 1 or on_test[0][1] != want["best_index"]:
        scored = sorted({c[1] for c in on_test})
        raise nb.fail("test-scored-for-every-candidate",
                      f"{desc}: score_fn saw the test split {len(on_test)} times (candidates "
                      f"{scored}); expected once, for the chosen candidate {want['best_index']}.")
    return got


@pytest.mark.grades("select_hyperparameters")
class TestSelectHyperparameters:
    @pytest.mark.points(3)
    def test_chooses_by_validation(self, nb):
        """the candidate with the best validation score wins"""
        check_select(nb, select_script(nb, 0))
        check_select(nb, select_script(nb, 1, n=5))

    @pytest.mark.points(2)
    def test_scores_test_once(self, nb):
        """the test split is scored once, for the chosen model"""
        check_select(nb, select_script(nb, 2, n=3))

    @pytest.mark.points(1)
    def test_first_of_tied_candidates(self, nb):
        """on a tie the earlier grid entry wins"""
        check_select(nb, select_script(nb, 3, n=4, tie=True))


# ---- predict ----------------------------------------------------------------------------------------------

def check_predict(nb, params):
    desc = f"predict on a batch of {params['batch']}, model starting in {params['start_mode']} mode"
    got = nb.run("predict", "predict_trace", params)
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
                      "a torch.LongTensor of class ids.")
    want = nb.trace("predict_trace", params, "predict")
    problem = mismatch(got["value"], want["value"])
    if problem:
        raise nb.fail(problem[0], f"{desc}:\n  expected: {show(want['value'])}\n  got:      "
                      f"{show(got['value'])}\n  ({problem[1]}; a class id is the index of the "
                      "largest logit)")


@pytest.mark.grades("predict")
class TestPredict:
    @pytest.mark.points(2)
    def test_argmax_in_eval_mode(self, nb):
        """class ids of 16 examples, in eval mode"""
        check_predict(nb, dict(seed=nb.seed(0), batch=16, start_mode="eval"))

    @pytest.mark.points(1)
    def test_restores_train_mode(self, nb):
        """a model in train mode is left in train mode"""
        check_predict(nb, dict(seed=nb.seed(1), batch=8, start_mode="train"))

    @pytest.mark.points(1)
    def test_keeps_eval_mode(self, nb):
        """a model in eval mode is left in eval mode"""
        check_predict(nb, dict(seed=nb.seed(2), batch=8, start_mode="eval"))

    @pytest.mark.points(1)
    def test_single_example(self, nb):
        """a batch of one example"""
        check_predict(nb, dict(seed=nb.seed(3), batch=1, start_mode="train"))


# ---- train_digits_classifier ----------------------------------------------------------------------------

HELD_OUT = 360
_DIGITS: dict = {}
_RUNS: dict = {}  # (id(assignment), hidden) -> (assignment, result, failure)


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


def digits_split(seed):
    """A split of scikit-learn's bundled digits drawn from `seed`: 1437 to train on, 360 held out."""
    if "x" not in _DIGITS:
        x, y = load_bundled_digits()
        _DIGITS.update(x=x.astype(np.float32), y=y.astype(np.int64))
    x, y = _DIGITS["x"], _DIGITS["y"]
    perm = np.random.default_rng(seed).permutation(len(x))
    test, train = perm[:HELD_OUT], perm[HELD_OUT:]
    return dict(x_train=x[train], y_train=y[train], x_test=x[test], y_test=y[test])


def digits_result(nb):
    """Train the student's classifier once per graded notebook and run (public, hidden); both
    checks of the run read the outcome. The hidden run holds out other digits."""
    key = (id(nb.assignment), nb.hidden)
    stored = _RUNS.get(key)
    if stored is None or stored[0] is not nb.assignment:
        d = digits_split(nb.seed(17))
        params = dict(x_train=d["x_train"], y_train=d["y_train"], x_test=d["x_test"], seed=nb.seed(0))
        result, failure = None, None
        try:
            result = nb.run("train_digits_classifier", "digits_trace", params, timeout=150)
            result["y_test"] = d["y_test"]
        except CheckFailed as err:
            failure = err
        stored = _RUNS[key] = (nb.assignment, result, failure)
    _, result, failure = stored
    if failure is not None:
        raise CheckFailed(failure.label, failure.message)
    if result.get("loaded_digits"):
        raise nb.fail("forbidden-api", "train_digits_classifier called sklearn's load_digits: the "
                      "full dataset contains the held-out digits it is graded on. Train only on "
                      "the x_train, y_train it is given.")
    return result


@pytest.mark.grades("train_digits_classifier")
class TestTrainDigitsClassifier:
    @pytest.mark.points(1)
    def test_maps_64_pixels_to_10_logits(self, nb):
        """the trained model maps (B, 64) raw pixels to (B, 10) logits"""
        got = digits_result(nb)
        if not got["is_module"]:
            raise nb.fail("wrong-type", f"train_digits_classifier returned a {got['type']}; expected "
                          "the trained torch.nn.Module.")
        if got.get("output_type") != "Tensor":
            raise nb.fail("wrong-type", f"the model returned a {got.get('output_type')} for a batch; "
                          "expected a tensor of logits.")
        if got["small_shape"] != [3, 10] or got["shape"] != [HELD_OUT, 10]:
            raise nb.fail("wrong-shape", f"the model maps a (3, 64) batch of raw pixels to "
                          f"{tuple(got['small_shape'])}; expected logits of shape (3, 10).")

    @pytest.mark.points(4)
    def test_reaches_95_percent(self, nb):
        """at least 95% accuracy on 360 held-out digits"""
        got = digits_result(nb)
        if not got["is_module"] or "predictions" not in got or got["shape"] != [HELD_OUT, 10]:
            raise nb.fail("wrong-shape", "train_digits_classifier: the model must map (B, 64) raw "
                          "pixels to (B, 10) logits before its accuracy can be measured.")
        acc = float((np.asarray(as_numpy(got["predictions"])) == got["y_test"]).mean())
        if acc < 0.95:
            raise nb.fail("below-target-accuracy", f"accuracy on {HELD_OUT} held-out digits (raw "
                          f"pixels 0..16 fed to your model in eval mode): {acc:.1%}, target 95%.")
