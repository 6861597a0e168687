"""q21_rapid_fire: the drill's answers and its listed wrong answers. Never leaves the instructor.

A student kit carries neither: only salted digests of them (see whiteboard.grading.answers), enough
to say right or wrong and to name a listed misconception.
"""
from itertools import combinations, permutations, product

from autograder.labels.q21_rapid_fire import LABELS
from whiteboard.grading.answers import ANY
from whiteboard.grading.pitfalls import Pitfalls

PITFALLS = Pitfalls(LABELS)  # no variants: the wrong answers are values, listed below
STANDINS = ()

HYPER = ("weights", "biases", "learning rate", "batch size", "dropout rate", "number of layers",
         "batchnorm gamma")
MODELS = ("gan", "vae", "gpt", "naive bayes", "logistic regression", "svm")
LAYERS = ("linear", "conv2d", "dropout", "batchnorm2d", "layernorm", "relu")
STEPS = ("fit scaler", "split", "transform splits", "train")
TASKS, LOSSES = ("multi-class", "binary", "regression"), ("cross-entropy", "binary cross-entropy", "mse")

ANSWERS = {
    "rf01": "sigmoid",
    "rf02": 0.25,
    "rf03": {"learning rate", "batch size", "dropout rate", "number of layers"},
    "rf04": 3000000,
    "rf05": "zero",
    "rf06": 100,
    "rf07": "head",
    "rf08": 0.2,
    "rf09": {"gan", "vae", "gpt", "naive bayes"},
    "rf10": [0.6698, 0.3302],
    "rf11": 1.95,
    "rf12": {"multi-class": "cross-entropy", "binary": "binary cross-entropy", "regression": "mse"},
    "rf13": "existence",
    "rf14": ["split", "fit scaler", "transform splits", "train"],
    "rf15": (5, 18, 25),
    "rf16": "overfitting",
    "rf17": 1.0,
    "rf18": {"dropout", "batchnorm2d"},
    "rf19": {"deterministic dropout": "eval", "saves activation memory": "no_grad"},
    "rf20": "logits",
}


def _subsets(items):
    return [set(c) for n in range(1, len(items) + 1) for c in combinations(items, n)]


def _mappings(keys, values):
    return [dict(zip(keys, choice)) for choice in product(values, repeat=len(keys))]


WRONG_ANSWERS = {  # (wrong value, label), the first match names the misconception
    "rf01": [("softmax", "softmax-on-single-logit")],
    "rf02": [(1.0, "sigmoid-grad-max-is-one"), (0.5, "sigmoid-output-for-grad")],
    "rf03": ([(s, "weights-as-hyperparameters") for s in _subsets(HYPER) if s & {"weights", "biases"}]
             + [(s, "learned-scale-as-hyperparameter") for s in _subsets(HYPER) if "batchnorm gamma" in s]),
    "rf04": [(3000300, "embedding-has-bias")],
    "rf05": [("depends on W", "bias-free-output-depends-on-w")],
    "rf06": [(10000, "iteration-is-example"), (1, "iteration-is-epoch")],
    "rf07": [("first layers", "fine-tune-early-layers-first")],
    "rf08": [(0.05, "scaling-inverted"), (0.1414, "sqrt-scaling")],
    "rf09": [(s, "discriminative-as-generative") for s in _subsets(MODELS)
             if s & {"logistic regression", "svm"}],
    "rf10": [([0.7311, 0.2689], "missing-sqrt-dk-scaling")],
    "rf11": [(2.05, "gradient-ascent")],
    "rf12": [(m, "mse-for-classification") for m in _mappings(TASKS, LOSSES)
             if "mse" in (m["multi-class"], m["binary"])],
    "rf13": [("learnability by gradient descent", "uat-implies-learnability"),
             ("a bound on the width", "uat-gives-width")],
    "rf14": [(list(p), "leakage-stats-from-all-data") for p in permutations(STEPS)
             if p.index("fit scaler") < p.index("split")],
    "rf15": [((6, ANY, ANY), "receptive-field-adds-kernels")],
    "rf16": [("underfitting", "overfitting-underfitting-swapped")],
    "rf17": [(0.5, "divided-by-variance")],
    "rf18": [(s, "layernorm-changes-in-eval") for s in _subsets(LAYERS) if "layernorm" in s],
    "rf19": [({"deterministic dropout": "no_grad", "saves activation memory": "eval"}, "eval-confused-with-no-grad")],
    "rf20": [("probabilities", "softmax-before-cross-entropy"),
             ("log-probabilities", "log-softmax-before-cross-entropy")],
}
