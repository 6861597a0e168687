"""q08_batch_norm: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("batchnorm_forward", "batchnorm_backward", "fold_batchnorm"),
    catalogue={
        "unbiased-var-in-normalization": (
            "the batch was normalised with the unbiased variance (dividing by m - 1); batch norm "
            "normalises with the biased variance of the batch (dividing by m).",
            "Use x.var(axis=axes) (ddof=0) to normalise; keep the ddof=1 variance only for the "
            "running estimate."),
        "biased-var-in-running-stats": (
            "the running variance was updated with the biased batch variance; PyTorch updates it "
            "with the unbiased one (times m / (m - 1), m the number of values per channel).",
            "running_var = (1 - momentum) * running_var + momentum * var * m / (m - 1)."),
        "running-stats-not-updated": (
            "in training mode the running mean and variance came back unchanged, so evaluation "
            "would use statistics that never saw the data.",
            "In training mode return (1 - momentum) * running + momentum * batch statistic for both "
            "the mean and the (unbiased) variance."),
        "batch-stats-in-eval": (
            "in evaluation mode the batch's own mean and variance were used, so a prediction "
            "depends on the other examples in the batch (and a batch of one breaks).",
            "When training is False normalise with running_mean and running_var, and return them "
            "unchanged."),
        "momentum-reversed": (
            "the update weighted the old running value by momentum and the new batch by "
            "1 - momentum (the Keras convention); PyTorch's momentum is the weight of the new batch.",
            "running = (1 - momentum) * running + momentum * batch_statistic."),
        "wrong-reduction-axes": (
            "the statistics were taken over the wrong axes: batch norm has one mean and variance "
            "per channel, over the batch (N) and, for images, over every position (H, W) too.",
            "Reduce over axis 0 for (N, C) inputs and over axes (0, 2, 3) for (N, C, H, W); a "
            "reshape to (-1, C) needs the channel axis moved last first."),
        "backward-ignores-batch-stats": (
            "dx treated the batch mean and variance as constants (dx = dout * gamma / std); they "
            "depend on every x in the batch, which adds two correction terms.",
            "dx = gamma / (N * std) * (N * dout - dout.sum(0) - x_hat * (dout * x_hat).sum(0))."),
    },
    uses=("mutates-input",),
    extra={
        "eval-returns-updated-running-stats": (
            "in evaluation mode the running statistics were still updated (with the batch's "
            "statistics); evaluation must leave them unchanged.",
            "When training is False return running_mean and running_var as they came in."),
        "fold-bias-ignores-running-mean": (
            "the folded bias left out the running mean: the BN output is "
            "gamma * (conv(x) - mean) / std + beta, so the mean is part of the shift.",
            "bias' = (conv_bias - running_mean) * gamma / sqrt(running_var + eps) + beta."),
        "fold-uses-variance-not-std": (
            "the weights were divided by running_var + eps instead of its square root.",
            "scale = gamma / np.sqrt(running_var + eps)."),
    },
)
