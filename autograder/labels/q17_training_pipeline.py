"""q17_training_pipeline: the functions a student writes and the mistakes its checks can name.

The data functions are checked by value (their mistakes are named by the references' pitfall
variants and the detectors below); the loop functions through harnesses, whose traces the checks
read (see autograder/test_q17_training_pipeline.py).
"""
import numpy as np

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("split_indices", "fit_standardizer", "standardize", "prepare_data",
               "train_one_epoch", "evaluate", "fit", "select_hyperparameters", "predict",
               "train_digits_classifier"),
    catalogue={
        "overlapping-splits": (
            "some example landed in more than one split (or twice in one), so the model is "
            "evaluated on data it was trained on and the validation/test scores are optimistic.",
            "Draw one random permutation of range(n) and give each index to exactly one split: "
            "three non-overlapping pieces of that permutation."),
        "unshuffled-split": (
            "the splits are contiguous blocks of the original order. Datasets are often sorted (by "
            "class, by date, by source), so an unshuffled split can put whole classes in one split "
            "only.",
            "Draw a permutation from a generator seeded with `seed` (np.random.default_rng(seed)"
            ".permutation(n), or torch.randperm(n, generator=torch.Generator().manual_seed(seed))) "
            "and split that instead of range(n)."),
        "leakage-stats-from-all-data": (
            "the mean and standard deviation were computed on the whole dataset, so information "
            "about the validation and test examples leaked into the preprocessing: the held-out "
            "scores no longer measure performance on unseen data.",
            "Split first, then call fit_standardizer on the training rows only, and standardise all "
            "three splits with those training statistics."),
        "missing-zero-grad": (
            "the gradients were never cleared, so PyTorch added each batch's gradient to those of "
            "all earlier batches (.backward() accumulates into .grad) and every step used a growing "
            "sum.",
            "Clear the gradients once per batch (optimizer.zero_grad()): at the start of the loop "
            "body, or right after optimizer.step()."),
        "zero-grad-after-backward": (
            "the gradients were cleared between loss.backward() and optimizer.step(), so the step "
            "saw zero (or no) gradients and the weights did not learn from the batch.",
            "Clear the gradients before the backward pass (first thing in the loop) or after the "
            "step, never between backward and step."),
        "step-before-backward": (
            "optimizer.step() ran before loss.backward() of the same batch, so each update used "
            "stale gradients (from the previous batch, or none at all).",
            "Order each batch as: forward, loss, loss.backward(), (clip), optimizer.step()."),
        "missing-train-mode": (
            "the model was not put in training mode, so layers such as dropout and batch norm "
            "behaved as at evaluation time while training (and a model left in eval mode by "
            "evaluate() stays there for every later epoch).",
            "Call model.train() at the start of train_one_epoch."),
        "loss-tensor-accumulated": (
            "the running loss was kept as a tensor that is still attached to the autograd graph "
            "(or a tensor was returned). Every batch's graph then stays alive until the end of the "
            "epoch, which wastes memory and can run out of it on a real model.",
            "Accumulate plain numbers: total += loss.item() * batch_size, and return a Python float."),
        "clip-before-backward": (
            "the gradient norm was clipped before loss.backward(), when the gradients were still "
            "zero (or None); backward then wrote unclipped gradients and the step used those.",
            "Clip between backward and step: loss.backward(); "
            "torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm); optimizer.step()."),
        "missing-eval-mode": (
            "the model was still in training mode while it was measured, so dropout kept dropping "
            "units and batch norm used (and updated) batch statistics: the scores are noisy and "
            "wrong.",
            "Call model.eval() before the evaluation loop."),
        "missing-no-grad": (
            "the forward passes of evaluation ran with gradient tracking on, building an autograd "
            "graph that is never used: it costs memory and time.",
            "Wrap the loop in `with torch.no_grad():` (or `with torch.inference_mode():`)."),
        "scheduler-not-stepped": (
            "the learning-rate scheduler was never (or not every epoch) stepped, so the learning "
            "rate never followed its schedule.",
            "When a scheduler is given, call scheduler.step() once per epoch, after evaluate()."),
        "best-weights-not-restored": (
            "after training, the model does not hold the weights of the best validation epoch. A "
            "common cause: best = model.state_dict() keeps references to the live tensors, which "
            "keep changing, so the 'saved' weights are the last ones.",
            "Save a copy when the validation loss improves (copy.deepcopy(model.state_dict()) or "
            "{k: v.detach().clone() for k, v in model.state_dict().items()}) and call "
            "model.load_state_dict(best_state) before returning."),
        "tuned-on-test": (
            "the hyperparameters were chosen by their score on the test split. The test score of "
            "the winner is then the maximum of several noisy measurements, an optimistic estimate: "
            "the test split has become a second validation split and nothing unseen is left.",
            "Choose by the validation scores (score_fn(model, val)) and score the test split once, "
            "at the end, on the chosen model."),
        "tuned-on-train": (
            "the candidates were compared on the training split. Training scores reward the model "
            "that memorises best (the biggest, least regularised), not the one that generalises.",
            "Train each candidate on `train`, then compare them with score_fn(model, val)."),
        "test-scored-for-every-candidate": (
            "the test split was scored for more than the chosen model (every candidate, or more "
            "than once). Even if the choice used the validation scores, looking at every test "
            "score invites choosing by them, and the reported number is no longer one untouched "
            "measurement.",
            "Keep the test split out of the loop: after choosing, call score_fn(best_model, test) "
            "exactly once."),
        "mode-not-restored": (
            "predict left the model in a different mode from the one it found it in, so the code "
            "that called it carries on in the wrong mode: a training loop that peeks at predictions "
            "silently continues in eval mode (dropout off), or an evaluation continues in train "
            "mode.",
            "Remember the mode the model arrived in (model.training) and set it back before "
            "returning (model.train(was_training))."),
        "below-target-accuracy": (
            "the trained model is below 95% accuracy on held-out digits.",
            "Standardise the pixels inside the model (or divide by 16), use a small MLP, an "
            "optimizer such as Adam with a learning rate around 1e-3..1e-2, mini-batches of 32-64 "
            "and a few dozen epochs; check that the training loss goes down."),
    },
    uses=("mutates-input", "forbidden-api"),
    extra={
        "picked-lowest-score": (
            "the candidate with the LOWEST validation score was chosen. score_fn is a score "
            "(accuracy: higher is better), not a loss.",
            "Take the index of the highest validation score (np.argmax, or max over the scores), "
            "the first one on ties."),
        "split-standardised-separately": (
            "each split was standardised with its own mean and std. The model then sees validation "
            "and test inputs transformed differently from its training inputs (and a single test "
            "example could not be standardised at all).",
            "Fit the statistics once, on the training split, and reuse them for val and test."),
        "std-ddof-1": (
            "the standard deviation used ddof=1 (the sample estimate); the exercise, like "
            "scikit-learn's StandardScaler, uses the population std (ddof=0).",
            "Use x.std(axis=0) in NumPy (ddof=0 is its default). Careful: torch's .std() defaults "
            "to the unbiased ddof=1 estimate; pass unbiased=False / correction=0 there."),
        "zero-std-not-replaced": (
            "a feature that is constant in the training data has std 0, and dividing by it gives "
            "NaN or inf (the digits have pixels that are always 0).",
            "Replace zero standard deviations by 1: std = np.where(std == 0, 1.0, std)."),
        "mean-of-batch-means": (
            "the batch losses were averaged without weighting by batch size, so the smaller last "
            "batch counts as much as a full one.",
            "Sum loss.item() * len(x) over the batches and divide by the number of examples."),
        "clip-not-applied": (
            "clip_norm was given but the gradients reaching optimizer.step() had a larger global "
            "norm: clipping was skipped, or done per tensor or by value (clip_grad_value_), which "
            "leaves the norm of all the gradients together above clip_norm.",
            "When clip_norm is not None, call torch.nn.utils.clip_grad_norm_(model.parameters(), "
            "clip_norm) after backward and before step."),
        "scheduler-step-misplaced": (
            "scheduler.step() ran at the wrong point of the epoch (before validation, or more than "
            "once per epoch).",
            "Per epoch: train_one_epoch(...), then evaluate(...), then scheduler.step(), exactly "
            "once."),
        "patience-off-by-one": (
            "early stopping stopped one epoch too early or too late.",
            "Count epochs since the last improvement (reset to 0 when the val loss drops) and stop "
            "as soon as that count reaches `patience`."),
        "best-epoch-one-based": (
            "best_epoch was counted from 1; the history lists are indexed from 0.",
            "Record the loop index of the best epoch, so that history['val_loss'][best_epoch] is "
            "the best validation loss."),
        "tie-not-first": (
            "two candidates share the highest validation score and the later one was chosen; the "
            "contract keeps the first (as max() and np.argmax do).",
            "Replace the best only on a strictly higher score (`>`, not `>=`), or use "
            "max(range(len(grid)), key=val_scores.__getitem__)."),
    },
)

# No library shortcut is forbidden by name here: the one shortcut q17 forbids, loading the full
# digits dataset (held-out digits included) inside train_digits_classifier, is watched by its
# harness, which reports any call of sklearn's load_digits.
FORBIDDEN: dict = {}


def _numpy(value):
    return np.asarray(value.detach() if hasattr(value, "detach") else value, dtype=np.float64)


@LABELS.detector("fit_standardizer", "zero-std-not-replaced")
def zero_std_left_in(got, x_train):
    """The returned std still holds a 0 (or the result is not finite) where a feature is constant."""
    std = _numpy(got[1])
    return bool(np.any(std == 0)) or not bool(np.all(np.isfinite(std)))
