"""q13_rnn_vanishing: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("rnn_forward", "hidden_grad_norms", "clip_grad_norm", "train_truncated_bptt"),
    catalogue={
        "returns-last-only": (
            "only the final hidden state h_T was returned; the function should return the hidden "
            "state of every time step, stacked into shape (T, B, H).",
            "Append each step's h to a list inside the loop and return torch.stack(hs) (dim 0 is time)."),
        "missing-tanh": (
            "the tanh was left out, so the recurrence is linear: the hidden state is not squashed into "
            "(-1, 1) and can grow or shrink without bound from step to step.",
            "Apply the nonlinearity at every step: h = torch.tanh(x[t] @ W_xh + h @ W_hh + b_h)."),
        "reversed-time": (
            "the gradient norms come out in reverse time order: entry 0 belongs to the last step. A "
            "backward recursion visits t = T-1 first, so its list is built back to front.",
            "Entry t must be ||dL/dh_t||: reverse the list built during the backward recursion (or "
            "fill an array at index t), so the norms grow towards the end when gradients vanish."),
        "per-tensor-clipping": (
            "each gradient tensor was clipped by its own norm. Clipping by the global norm scales every "
            "tensor by the same factor, which keeps the direction of the whole update.",
            "Compute one total norm over all tensors, sqrt(sum of each tensor's squared norm), and if "
            "it exceeds max_norm multiply every tensor by max_norm / (total + 1e-6)."),
        "value-clipping": (
            "each entry was clamped to [-max_norm, max_norm]: that is clip_grad_value_, which changes "
            "the direction of the gradient, not clipping by norm.",
            "Rescale instead of clamping: multiply every tensor by max_norm / (total_norm + 1e-6) when "
            "the global norm is above max_norm."),
        "clips-below-threshold": (
            "the gradients were rescaled even though their global norm was below max_norm (or only "
            "then): clipping must leave gradients that are small enough unchanged, and shrink only the "
            "ones above the threshold.",
            "Scale by min(1, max_norm / (total_norm + 1e-6)): a factor that never exceeds 1."),
        "hidden-not-detached": (
            "the hidden state was carried into the next chunk without detaching it, so the next "
            "backward pass tries to run through the previous chunk's graph too: PyTorch refuses "
            "(the graph was freed, or its weights have since been changed by the optimizer step), and "
            "even with retain_graph=True the cost would grow with every chunk.",
            "Before using the state in the next chunk, cut it from the old graph: h = h.detach(), or "
            "tuple(t.detach() for t in h) for an LSTM's (h, c); keep its values, drop its history."),
    },
    uses=("mutates-input",),   # clip_grad_norm returns new tensors; torch's clip_grad_norm_ works in place
    extra={
        "includes-initial-state": (
            "the initial state h0 was returned with the others: the result has T+1 steps.",
            "Collect only the states the loop computes, h_1 ... h_T: T entries of shape (B, H)."),
        "direct-gradient-only": (
            "only the direct gradient of the loss was measured (it is zero everywhere but the last "
            "step): the gradient was taken with respect to the stacked output, not the hidden states "
            "that the recurrence passes on.",
            "Call h.retain_grad() on every step's h inside the loop (or pass the list of states to "
            "torch.autograd.grad), so each gradient includes the path through the later steps."),
        "loss-over-all-steps": (
            "the loss summed the hidden states of every step, but the exercise's loss is "
            "L = hs[-1].sum(): the last state only, whose gradient must travel back through time.",
            "Use L = hs[-1].sum() (equivalently h_T.sum())."),
        "norm-after-clipping": (
            "the norm returned is that of the clipped gradients; the function must return the global "
            "norm measured before clipping (as torch.nn.utils.clip_grad_norm_ does), which is what "
            "you would log to see exploding gradients.",
            "Compute total_norm first, clip with it, and return that same total_norm."),
        "hidden-state-reset": (
            "the hidden state was not carried from one chunk to the next (it was reset to None or "
            "zeros), so the model never sees more context than one chunk.",
            "Keep the state the model returns (detached) and pass it into the next chunk's forward."),
    },
)


# ---- train_truncated_bptt: rules on the student's trace ----------------------------------------------
# They read the trace of the harness `tbptt_trace` (what the student's loop did to our instrumented
# model and optimizer) and nothing else; the checks and the reference tests apply them.

def tbptt_problem(trace, desc: str = "train_truncated_bptt"):
    """(label, message) for the first mistake the events of a tbptt_trace show, or None (then the
    check compares the losses, the steps and the final weights with the reference's trace)."""
    events = trace.get("events", [])
    forwards = [e for e in events if e[0] == "forward"]
    into = [e[1] for e in events if e[0] == "grad_into_state"]
    attached = [e for e in forwards if e[1] >= 1 and any(e[2]["attached"])]
    if attached or into:
        chunk = attached[0][1] if attached else into[0]
        which = ""
        if attached:
            flags = attached[0][2]["attached"]
            if len(flags) > 1:
                names = [n for n, a in zip(("h", "c"), flags) if a] if len(flags) == 2 else \
                    [f"state tensor {i}" for i, a in enumerate(flags) if a]
                which = f" ({', '.join(names)} still attached)"
        error = trace.get("error")
        tail = f"\n    Then PyTorch raised: {error}" if error else \
            " Its backward pass ran on into the previous chunk's graph."
        return ("hidden-not-detached", f"{desc}: chunk {chunk} received the state that chunk "
                f"{chunk - 1} returned still attached to chunk {chunk - 1}'s graph{which}.{tail}")
    if trace.get("error"):
        return ("crash", f"{desc} raised:\n    {trace['error']}")
    for e in forwards:
        if e[1] >= 1 and (e[2]["kind"] == "none" or not e[2]["equals_previous"]):
            got = "None" if e[2]["kind"] == "none" else "a state with other values"
            return ("hidden-state-reset", f"{desc}: chunk {e[1]} was given {got}, not the state "
                    f"the model returned at the end of chunk {e[1] - 1}.")
    n = trace.get("n_chunks", 0)
    chunks_run = [e[1] for e in forwards]
    if chunks_run[:n] != list(range(n)) or len(chunks_run) != n:
        return ("wrong-value", f"{desc}: the model was called on chunks {chunks_run}; expected one "
                f"forward pass per chunk, in order: {list(range(n))}.")
    steps = sum(1 for e in events if e[0] == "step")
    if steps != n:
        return ("wrong-value", f"{desc}: optimizer.step() ran {steps} times for {n} chunks; take "
                "exactly one step per chunk, after that chunk's backward pass.")
    if trace.get("returned_tensors"):
        return ("wrong-type", f"{desc} returned losses that are still tensors attached to their "
                "graphs (each keeps a whole chunk's graph alive); return loss.item() per chunk.")
    returned = trace.get("returned")
    if returned is None or any(v is None for v in returned):
        return ("wrong-type", f"{desc} returned {trace.get('returned_types')}; expected a list of "
                f"{n} floats, the loss of each chunk.")
    return None
