"""q12_cnn_architecture: the functions a student writes and the mistakes its checks can name.

`build_cnn` has no pitfall variants (a random initialisation never reproduces exactly): its
mistakes are named by the rules below, which read the trace of the harness `build_cnn_trace` (what
the student's model did) and nothing else. `model_state_problem` is the rule that names a
`layer_shapes` (or `count_parameters`) that changed the model it was given. They live here, beside
the labels they name, because they hold no answer: the checks and the reference tests apply them.
"""
import math

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("build_cnn", "layer_shapes", "cnn_output_shapes", "count_parameters"),
    catalogue={
        "softmax-in-model": (
            "the model ends with a softmax (or log-softmax), so it returns probabilities instead of "
            "logits. nn.CrossEntropyLoss applies log-softmax itself, so after a softmax it sees "
            "squashed scores and the gradients shrink; and callers expecting logits get something else.",
            "End forward with the last nn.Linear and return its raw scores; apply torch.softmax(logits, "
            "dim=1) outside the model, only when you want probabilities to show."),
        "flatten-size-wrong": (
            "the flattened feature count does not match the last feature map for this input size: a "
            "pooling stage, the channel count or the batch axis was handled wrongly, so the first "
            "Linear layer expects a different in_features than it gets.",
            "Follow (C, H, W) through every layer; flattening gives (B, C*H*W) and keeps the batch axis "
            "(nn.Flatten() or x.flatten(1)). Check it by sending torch.zeros(1, 3, 224, 224) through "
            "the conv part and printing the shape."),
        "cannot-learn": (
            "after 10 Adam steps (lr 1e-3) on one batch of 4 images the training loss is still 0.5 or "
            "more. A loss that does not move means a broken path from the loss to the weights: layers "
            "created inside forward, layers kept in a plain Python list, a detached tensor, or an "
            "activation that blocks the gradient. A loss that falls but too slowly usually means "
            "un-normalised activations feeding a tiny head (for example a global average pool right "
            "after plain convolutions).",
            "Create every layer once in __init__ as an attribute (or inside nn.Sequential / "
            "nn.ModuleList) and check that list(model.parameters()) holds the weights of every layer; "
            "put batch norm and a ReLU after each conv, return raw logits, and try the 10 steps "
            "yourself on four random images."),
        "pool-off-by-one": (
            "the size after a pooling layer is one off. nn.MaxPool2d(k, stride) without padding keeps "
            "only the windows that fit completely: floor((H - k) / stride) + 1 of them.",
            "Use (H - k) // stride + 1 for a pool (and (H + 2*pad - k) // stride + 1 for a conv); do "
            "not round up, and H // stride is only right when k equals the stride."),
        "counts-frozen": (
            "frozen parameters (requires_grad=False) were counted; the question asks for the "
            "parameters the optimizer can train.",
            "Keep only the trainable ones: sum(p.numel() for p in model.parameters() if p.requires_grad)."),
        "counts-buffers": (
            "buffers were counted as parameters: batch norm's running_mean, running_var and "
            "num_batches_tracked are saved in the state_dict, but no gradient or optimizer ever "
            "updates them.",
            "Count model.parameters() (those with requires_grad), not model.state_dict() or "
            "model.buffers()."),
    },
    uses=("mutates-input",),   # layer_shapes must leave the model's mode, weights and buffers as they were
    extra={
        # the generic label, explained for a model rather than an array
        "mutates-input": (
            "the function changed the model it was given: the train/eval mode of some modules, "
            "its weights, its buffers (a forward pass in train mode updates batch norm's running "
            "statistics) or which parameters require grad, or it left hooks registered.",
            "Probe the shapes in eval mode under torch.no_grad(), then restore each module's own "
            "`training` flag and remove every hook handle (in a finally: block); or run the probe "
            "on copy.deepcopy(model)."),
        "too-many-parameters": (
            "the network has 5 million trainable parameters or more. Almost all of them usually sit "
            "in the first fully connected layer, fed by a large flattened feature map.",
            "Pool more (or use fewer channels) before flattening, or end the conv part with "
            "nn.AdaptiveAvgPool2d(1) so that the first Linear gets C features instead of C*H*W."),
        "too-slow-to-train": (
            "the 10 training steps on 4 images of 224x224 did not finish within the time limit on one "
            "CPU core: the network computes too much at full resolution.",
            "Downsample early (a stride-2 first convolution, or a pool right after it), keep the "
            "early layers narrow (8 to 32 channels) and widen only where the maps are small."),
        "one-entry-per-module": (
            "each module appears once, so a module that forward calls twice is listed once (the "
            "shapes were kept in a dict keyed by the module's name).",
            "Append (name, shape) to a list every time a hook fires: one entry per call, in call order."),
        "includes-containers": (
            "container modules (the model itself, nn.Sequential blocks) were listed too; only leaves, "
            "modules without children, are asked for.",
            "Hook only the modules with no children: `if not list(module.children())`."),
    },
)

MAX_PARAMETERS = 5_000_000
MAX_FINAL_LOSS = 0.5


# ---- build_cnn: rules on the student's trace ---------------------------------------------------------

def _config(trace) -> str:
    return f"build_cnn({trace.get('num_classes', 10)}, {trace.get('in_channels', 3)})"


def _forward_text(trace, f) -> str:
    size = trace.get("size", 224)
    return (f"{_config(trace)} in eval mode, on a ({f['batch']}, {trace.get('in_channels', 3)}, "
            f"{size}, {size}) batch")


def forward_problem(trace, num_classes=None):
    """(label, message) when build_cnn did not return a module mapping the batch to
    (B, num_classes) logits, else None. Applies to the trace's own forward passes and to those of
    the other configurations it ran (trace["others"])."""
    if not trace.get("is_module"):
        return ("wrong-type", f"{_config(trace)} returned a {trace.get('type')}; expected an "
                "nn.Module (an nn.Sequential, or an instance of your own nn.Module subclass).")
    num_classes = trace.get("num_classes", 10) if num_classes is None else num_classes
    for f in trace.get("forwards", []):
        where = _forward_text(trace, f)
        text = f.get("error")
        if text:
            module = f.get("error_module")
            layer = f" in {module} `{f.get('error_module_name')}`" if module else ""
            in_linear = module in ("Linear", "LazyLinear")
            if (in_linear and "shape" in text) or "mat1 and mat2" in text or \
                    "is invalid for input of size" in text:
                return ("flatten-size-wrong", f"{where}: the forward pass failed{layer}:\n    {text}")
            return ("crash", f"{where}: the forward pass raised{layer}:\n    {text}")
        if f.get("output_type") != "Tensor":
            return ("wrong-type", f"{where}: the model returned a {f.get('output_type')}; expected "
                    "a tensor of logits.")
        shape = f.get("shape")
        if shape != [f["batch"], num_classes]:
            if shape and len(shape) == 2 and shape[1] == num_classes and shape[0] != f["batch"] \
                    and shape[0] % f["batch"] == 0:
                return ("flatten-size-wrong", f"{where}: the output has shape {tuple(shape)}, "
                        f"expected ({f['batch']}, {num_classes}): a view(-1, n) with the wrong n "
                        "moved features into the batch axis.")
            return ("wrong-shape", f"{where}: the output has shape {tuple(shape or ())}, expected "
                    f"({f['batch']}, {num_classes}): one row of {num_classes} logits per image.")
    for other in trace.get("others", []):
        problem = forward_problem(other)
        if problem:
            return problem
    return None


def logits_problem(trace):
    """(label, message) when the model's outputs are probabilities or log-probabilities."""
    if trace.get("probabilities") or trace.get("log_probabilities"):
        kind = "sums to 1 with no negative entry (probabilities)" if trace.get("probabilities") else \
            "has a logsumexp of 0 (log-probabilities)"
        return ("softmax-in-model", f"{_config(trace)}: on a batch of 2 random images (eval mode) "
                f"every output row {kind}:\n    {_rows_text(trace.get('output'))}")
    return None


def _rows_text(output) -> str:
    try:
        rows = [[round(float(v), 4) for v in row[:6]] for row in output[:2]]
        return "; ".join(str(r)[:-1] + (", ...]" if len(output[0]) > 6 else "]") for r in rows)
    except Exception:
        return "(output not shown)"


def size_problem(trace, max_parameters=MAX_PARAMETERS):
    n = trace.get("trainable_parameters")
    if n is not None and n >= max_parameters:
        return ("too-many-parameters", f"{_config(trace)} has {n:,} trainable parameters; the limit "
                f"is {max_parameters:,} (fewer than 5 M).")
    return None


def learning_problem(trace, max_loss=MAX_FINAL_LOSS):
    """(label, message) when the 10-step overfitting run did not reach a loss below `max_loss`."""
    learning = trace.get("learning")
    if learning is None:
        return None
    steps = trace.get("steps", 10)
    what = (f"{_config(trace)}: {steps} Adam steps (lr {trace.get('lr', 1e-3):g}) on one batch of "
            f"{trace.get('n_images', 4)} images of {trace.get('n_images', 4)} classes")
    if learning.get("skipped"):
        return ("too-many-parameters", f"{what} were not run: {learning['skipped']}.")
    if learning.get("too_slow"):
        done = len(learning.get("losses") or [])
        return ("too-slow-to-train", f"{what}: only {done} of the {steps} steps finished within "
                f"{learning.get('budget', 0):.0f} s on one CPU core.")
    if learning.get("error"):
        return ("cannot-learn", f"{what}: training raised\n    {learning['error']}")
    # The loss the run reached: the train-mode loss after the last step, or a lower loss of one of
    # the steps (a network that fits the four images in a few steps can bounce back up once by
    # the last one, as Adam keeps taking steps of about lr on a loss that is already near 0).
    losses = [v for v in (learning.get("losses") or []) if v is not None and math.isfinite(v)]
    final = learning.get("final_loss")
    reached = [v for v in [final] + losses[1:] if v is not None and math.isfinite(v)]
    if not reached or min(reached) >= max_loss:
        curve = ", ".join(f"{v:.3g}" for v in (learning.get("losses") or []))
        first = losses[0] if losses else float("nan")
        best = min(reached) if reached else float("nan")
        moved = math.isfinite(first) and math.isfinite(best) and first - best > 0.05 * max(abs(first), 1e-12)
        how = ("it falls, but too slowly to fit four images" if moved else
               "it hardly moves: some weights never receive a gradient, or never reach the optimizer")
        shown = "not finite" if final is None or not math.isfinite(final) else f"{final:.4g}"
        return ("cannot-learn", f"{what}: the train-mode cross-entropy after the steps is {shown}, "
                f"and no step went below {max_loss} either. The loss at each step: [{curve}]; {how}.")
    return None


def build_cnn_problem(trace, max_parameters=MAX_PARAMETERS, max_loss=MAX_FINAL_LOSS):
    """The first problem of a build_cnn_trace, in the order the checks apply them, or None."""
    for rule in (forward_problem, logits_problem, lambda t: size_problem(t, max_parameters),
                 lambda t: learning_problem(t, max_loss)):
        problem = rule(trace)
        if problem:
            return problem
    return None


# ---- layer_shapes / count_parameters: the model must come back as it was -------------------------------

def model_state_problem(trace, call: str):
    """(mutates-input, message) when the call left the model changed (a layer_shapes_trace or
    count_parameters_trace), else None."""
    changes = []
    if trace.get("mode_changed"):
        changes.append(f"the train/eval mode of some modules (before: {trace.get('modes_before')}, "
                       f"after: {trace.get('modes_after')})")
    if trace.get("params_changed"):
        changes.append("the weights")
    if trace.get("buffers_changed"):
        changes.append("the buffers (batch norm's running statistics were updated by a forward "
                       "pass in train mode)")
    if trace.get("requires_grad_changed"):
        changes.append("which parameters require grad")
    if trace.get("hooks_left", 0) > 0:
        changes.append(f"{trace['hooks_left']} hook(s) left registered on the modules")
    if changes:
        return ("mutates-input", f"{call}: afterwards the model differs from what was passed in: "
                + "; ".join(changes) + ".")
    return None
