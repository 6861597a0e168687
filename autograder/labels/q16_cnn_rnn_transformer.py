"""q16_cnn_rnn_transformer: the functions a student writes and the mistakes its checks can name.

`sequence_model_problem` is the rule the checks of build_sequence_model apply to the trace of the
student's model (harnesses/q16_cnn_rnn_transformer.py: sequence_model_trace): a property of the
student's own model, not an answer, so it ships with the labels.
"""
import math

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("max_path_length", "sequential_operations", "layer_flops",
               "sinusoidal_positional_encoding", "build_sequence_model"),
    catalogue={
        "sin-cos-swapped": (
            "sine and cosine are on the wrong columns: the encoding puts sin on the even columns "
            "(2i) and cos on the odd ones (2i+1).",
            "pe[:, 0::2] = torch.sin(pos * freq) and pe[:, 1::2] = torch.cos(pos * freq)."),
        "pe-exponent-wrong": (
            "the frequencies are wrong: column pair i uses the angle pos / 10000^(2i/d), the same "
            "frequency for its sin and its cos. Using the column index itself, forgetting the 2, or "
            "multiplying by 10000^(2i/d) instead of dividing gives other wavelengths.",
            "Build one frequency per pair: freq = 10000 ** (-torch.arange(0, d, 2) / d) (or "
            "torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))), and use it for both the "
            "sin column 2i and the cos column 2i+1."),
        "pe-blocks-not-interleaved": (
            "the sines fill the first half of the columns and the cosines the second half; the "
            "encoding asked for interleaves them: sin in column 2i, cos in column 2i+1.",
            "Write into strided slices, pe[:, 0::2] and pe[:, 1::2], instead of concatenating "
            "[sin, cos]."),
        "future-leak": (
            "the output at position t changed when a later token changed, so the model looks at the "
            "future: a language model trained this way reads the answer it should predict (attention "
            "without a causal mask, a convolution padded on both sides, a bidirectional RNN).",
            "Attention: mask scores with a lower-triangular (causal) mask. Convolution: pad only on "
            "the left, (kernel - 1) * dilation zeros, or cut the extra outputs on the right. RNN: "
            "one direction only, left to right."),
    },
    extra={
        "cannot-learn": (
            "a few Adam steps on a short repeating sequence did not lower the loss: the gradient does "
            "not reach the weights (layers created in forward or kept in a plain list, detached "
            "tensors, an output that ignores the input).",
            "Create every layer once in __init__ (use nn.ModuleList for lists), return raw logits of "
            "shape (B, T, vocab_size), and check that list(model.parameters()) holds every layer."),
        "path-not-ceiled": (
            "the number of conv layers was rounded down: each stride-1 layer of kernel k widens the "
            "reach by k - 1 positions, and a partial last step still needs a whole layer.",
            "Round up: ceil((n - 1) / (kernel - 1)), e.g. -(-(n - 1) // (kernel - 1))."),
        "path-divides-by-kernel": (
            "the path was computed by dividing by the kernel size, but stacking a layer of kernel k "
            "only adds k - 1 new positions to the receptive field (the centre is already covered).",
            "Positions 0 and n-1 are n - 1 apart and each layer covers k - 1 more: "
            "ceil((n - 1) / (kernel - 1)) layers."),
        "rnn-path-n": (
            "the RNN's path between the first and the last of n positions was counted as n; the "
            "signal takes one step per position in between, n - 1 steps.",
            "Count the edges, not the nodes: n - 1."),
        "flops-swapped": (
            "the costs of the RNN and self-attention were swapped: an RNN multiplies a d x d matrix at "
            "each of n steps (n*d^2), attention compares every pair of positions (n^2*d).",
            "rnn: n * d * d; self_attention: n * n * d."),
        "cnn-flops-missing-kernel": (
            "the convolution's cost left out the kernel: each output position combines kernel "
            "input positions, each through a d x d matrix.",
            "cnn: kernel * n * d * d."),
    },
)


# ---- the rules of build_sequence_model --------------------------------------------------------------

LEAK_TOLERANCE = 1e-5     # relative to the output's scale: a causal model changes by exactly 0 here
MIN_LOSS_DROP = 0.25      # after the Adam steps the loss must be below 75 % of the loss before


def shape_problem(trace):
    """(label, message) when the model is not a module, crashes or has the wrong output shape."""
    if not trace.get("is_module"):
        return ("wrong-type", f"build_sequence_model returned a {trace.get('type')}, not an nn.Module "
                "(a model whose forward maps token ids to logits).")
    if trace.get("error"):
        return ("crash", f"the model's forward pass on token ids of shape (B, T) raised {trace['error']}")
    if trace["shape"] != trace["expected_shape"]:
        B, T, V = trace["expected_shape"]
        got = "not a tensor" if trace["shape"] is None else f"shape {tuple(trace['shape'])}"
        return ("wrong-shape", f"model(tokens) with tokens of shape ({B}, {T}) returned {got}; "
                f"expected next-token logits of shape ({B}, {T}, vocab_size={V}): batch first, one "
                "row of logits per position.")
    return None


def causality_problem(trace):
    """(label, message) when changing later tokens changes earlier outputs (or gives NaN)."""
    scale = max(1.0, float(trace["scale"]))
    effects = list(trace["future_effect"]) + list(trace["suffix_effect"])
    if any(e is None or not math.isfinite(e) for e in effects):
        return ("nan-or-inf", "changing some tokens made the model's outputs NaN or inf.")
    limit = LEAK_TOLERANCE * scale
    for kind, what in (("future_effect", "changing token {n} alone"),
                       ("suffix_effect", "changing every token from position {n} on")):
        leaks = [(t, e) for t, e in enumerate(trace[kind]) if e > limit]
        if leaks:
            t, e = leaks[0]
            T = len(trace[kind]) + 1
            where = "the output at position 0" if t == 0 else f"the outputs at positions 0..{t}"
            return ("future-leak", f"on a sequence of {T} tokens, {what.format(n=t + 1)} changed "
                    f"{where} by up to {e:.3g} (the largest output is {float(trace['scale']):.3g}); "
                    f"the output at t must not depend on any token after t. It leaked at "
                    f"{len(leaks)} of the {T - 1} positions tried.")
    return None


def learning_problem(trace):
    """(label, message) when a few Adam steps on a repeating sequence do not lower the loss enough."""
    learning = trace.get("learning")
    if learning is None:
        return None
    before, after = learning.get("loss_before"), learning.get("loss_after")
    if learning.get("error"):
        return ("cannot-learn", f"training the model raised {learning['error']}")
    if before is None or after is None or not math.isfinite(after) or after > (1 - MIN_LOSS_DROP) * before:
        shown = "nan" if after is None or not math.isfinite(after) else f"{after:.3f}"
        return ("cannot-learn", f"{len(learning.get('losses', []))} Adam steps on a short sequence that "
                f"repeats itself took the cross-entropy from {before:.3f} to {shown}; a model that "
                f"learns gets below {(1 - MIN_LOSS_DROP) * before:.3f}.")
    return None


def sequence_model_problem(trace):
    """The first (label, message) a sequence_model_trace earns (shape, then causality, then
    learning when the trace trained the model), or None."""
    return shape_problem(trace) or causality_problem(trace) or learning_problem(trace)
