"""The catalogue's contract, as data the tests check against (functions and labels per assignment).

Kept here rather than parsed from ../shared/catalog.md so that the tests run from any checkout.
"""
GENERIC_LABELS = {"not-implemented", "wrong-shape", "wrong-type", "mutates-input", "nan-or-inf",
                  "timeout", "crash", "forbidden-api", "wrong-value"}

CATALOGUE = {
    "q05_cross_entropy": {
        "functions": {"softmax", "log_softmax", "cross_entropy", "cross_entropy_grad",
                      "binary_cross_entropy_with_logits", "label_smoothing_cross_entropy"},
        "labels": {"unstable-softmax", "softmax-wrong-axis", "log-of-softmax", "sum-not-mean",
                   "double-softmax", "grad-missing-batch-mean", "grad-sign-flipped",
                   "grad-missing-onehot", "unstable-bce", "smoothing-over-k-minus-1"},
    },
    "q11_convolution": {
        "functions": {"conv_output_size", "conv2d", "max_pool2d", "conv_param_count",
                      "dense_param_count", "receptive_field"},
        "labels": {"missing-plus-one", "not-floored", "padding-one-side", "ignores-dilation",
                   "flipped-kernel", "stride-ignored", "channels-not-summed", "bias-missing",
                   "ignores-stride-product", "forbidden-api"},
    },
    "q15_self_attention": {
        "functions": {"scaled_dot_product_attention", "causal_mask", "MultiHeadAttention",
                      "attention_score_flops", "kv_cache_attention"},
        "labels": {"missing-sqrt-dk-scaling", "scaled-by-dk", "softmax-over-queries",
                   "mask-after-softmax", "mask-inverted", "mask-fill-zero",
                   "causal-mask-excludes-diagonal", "causal-mask-upper",
                   "heads-split-without-transpose", "scale-by-d-model", "missing-output-projection",
                   "forbidden-api"},
    },
    "q17_training_pipeline": {
        "functions": {"split_indices", "fit_standardizer", "standardize", "prepare_data",
                      "train_one_epoch", "evaluate", "fit", "predict", "train_digits_classifier"},
        "labels": {"overlapping-splits", "unshuffled-split", "leakage-stats-from-all-data",
                   "missing-zero-grad", "zero-grad-after-backward", "step-before-backward",
                   "missing-train-mode", "loss-tensor-accumulated", "clip-before-backward",
                   "missing-eval-mode", "missing-no-grad", "scheduler-not-stepped",
                   "best-weights-not-restored", "mode-not-restored", "below-target-accuracy"},
    },
}


def catalogue_labels(assignment: str) -> set[str]:
    return set(CATALOGUE[assignment]["labels"])


def catalogue_functions(assignment: str) -> set[str]:
    return set(CATALOGUE[assignment]["functions"])
