"""Checks for q19_efficient_training.

lora_param_count and training_memory_bytes are called with plain data and compared with the
oracle's values. train_with_accumulation, LoRALinear and DynamicLossScaler need objects, so their
checks run a harness of autograder/harnesses/q19_efficient_training.py in the worker and compare
its trace with the same harness run on the references: accumulation against one large-batch step
per group on the group's micro-batches concatenated; the adapter against the catalogue's formula
with given lora_A and lora_B; the loss scaler against torch.amp.GradScaler("cpu") over a scripted
run with planted inf and NaN gradients. Rules on the student's own trace (a base that still
requires grad, lora_B not zero, a merged layer that is the base) name what no value shows. Inputs
come from nb.rng / nb.seed, so the hidden run varies them.
"""
import numpy as np
import pytest

from whiteboard.grading.compare import mismatch, show

TOL = dict(rtol=1e-4, atol=1e-6)


def ints(nb, k, low, high):
    """An int in [low, high)."""
    return int(nb.rng(k).integers(low, high))


# ---- train_with_accumulation ----------------------------------------------------------------------

def accumulation_view(trace):
    return [trace["losses"], trace["weights"]]


def check_accumulation(nb, params):
    n, k = params["n_micro"], params["accum_steps"]
    sizes = [min(k, n - s) for s in range(0, n, k)]
    desc = (f"train_with_accumulation(model, batches, MSELoss(), SGD(lr={params['lr']}"
            + (f", momentum={params['momentum']}" if params.get("momentum") else "")
            + f"), accum_steps={k}) on {n} micro-batches of {params['micro_size']} examples "
            f"(groups of {sizes} micro-batches)")
    got = nb.run("train_with_accumulation", "accumulation_trace", params)
    if got["losses"] is None:
        raise nb.fail("wrong-type", f"{desc} returned a {got['returned_type']}; expected a list "
                      "with one float per group.")
    want = nb.trace("accumulation_trace", params, "train_with_accumulation")
    problem = mismatch(accumulation_view(got), accumulation_view(want), **TOL)
    if problem is None:
        return got
    label = nb.match_variant(
        accumulation_view(got),
        [(lab, accumulation_view(t)) for lab, t in
         nb.variant_traces("accumulation_trace", params, "train_with_accumulation")],
        lambda a, b: mismatch(a, b, equal_nan=True, **TOL) is None)
    losses_problem = mismatch(got["losses"], want["losses"], **TOL)
    if losses_problem:
        what = (f"it returned the group losses {show(got['losses'])}, expected "
                f"{show(want['losses'])} ({losses_problem[1]})")
    else:
        what = ("the losses are right, but the weights after training differ from those of one "
                "large-batch step per group on the group's micro-batches concatenated "
                f"({mismatch(got['weights'], want['weights'], **TOL)[1]})")
    raise nb.fail(label or problem[0], f"{desc}: {what}.")


def accumulation_params(nb, k, n_micro, accum_steps, **extra):
    return dict(seed=nb.seed(k), n_micro=n_micro, micro_size=ints(nb, k + 1, 2, 5),
                accum_steps=accum_steps, lr=0.1, **extra)


@pytest.mark.grades("train_with_accumulation")
class TestTrainWithAccumulation:
    @pytest.mark.points(3)
    def test_full_groups(self, nb):
        """two groups of three micro-batches: the weights of two large-batch steps"""
        check_accumulation(nb, accumulation_params(nb, 0, 6, 3))

    @pytest.mark.points(2)
    def test_leftover_group(self, nb):
        """a last, shorter group is stepped on too, as a batch of its own"""
        k = ints(nb, 2, 2, 4)
        check_accumulation(nb, accumulation_params(nb, 3, 2 * k + ints(nb, 5, 1, k), k))

    @pytest.mark.points(1)
    def test_edge_cases(self, nb):
        """accum_steps=1 (plain training, with momentum); accum_steps above the number of batches"""
        check_accumulation(nb, accumulation_params(nb, 6, 3, 1, momentum=0.9))
        check_accumulation(nb, accumulation_params(nb, 8, 2, 4))

    @pytest.mark.points(1)
    def test_returns_floats(self, nb):
        """returns one Python float per group, not tensors"""
        got = check_accumulation(nb, accumulation_params(nb, 10, 4, 2))
        tensors = [t for t in got["element_types"] if t in ("Tensor", "Parameter")]
        if tensors:
            raise nb.fail("wrong-type", "train_with_accumulation returned a list of "
                          f"{got['element_types']}; each group's loss must be a Python float "
                          "(loss.item()): a tensor that requires grad keeps its whole graph alive.")


# ---- LoRALinear -----------------------------------------------------------------------------------

def lora_params(nb, k, in_features, out_features, bias=True):
    """r in {2, 4} and alpha = 2r or 3r, so that every wrong scale gives another output."""
    r = int(nb.rng(k).choice([2, 4]))
    return dict(in_features=in_features, out_features=out_features, r=r,
                alpha=float(r * int(nb.rng(k + 1).choice([2, 3]))), bias=bias, seed=nb.seed(k + 2))


def lora_desc(p):
    return (f"LoRALinear(nn.Linear({p['in_features']}, {p['out_features']}, bias={p['bias']}), "
            f"r={p['r']}, alpha={p['alpha']})")


def lora_run(nb, params):
    return nb.run("LoRALinear", "lora_trace", params)


def check_lora_shapes(nb, got, params):
    r, n_in, n_out = params["r"], params["in_features"], params["out_features"]
    if got["lora_A_shape"] != [r, n_in] or got["lora_B_shape"] != [n_out, r]:
        raise nb.fail("wrong-shape", f"{lora_desc(params)}: lora_A has shape {got['lora_A_shape']} "
                      f"and lora_B {got['lora_B_shape']}; expected {[r, n_in]} and {[n_out, r]}.")


def check_lora_built(nb, got, params):
    desc = lora_desc(params)
    if not got["base_kept"]:
        raise nb.fail("wrong-value", f"{desc}: self.base is not the nn.Linear that was passed in; "
                      "keep it as it is (self.base = base), frozen in place.")
    unfrozen = sorted(n for n, flag in got["base_requires_grad"].items() if flag)
    if unfrozen:
        raise nb.fail("base-not-frozen", f"{desc}: base.{', base.'.join(unfrozen)} still "
                      f"require grad; the adapter's trainable parameters are {got['trainable']}, "
                      "expected ['lora_A', 'lora_B'].")
    if got["trainable"] != ["lora_A", "lora_B"]:
        raise nb.fail("wrong-value", f"{desc}: the trainable parameters are {got['trainable']}; "
                      "expected exactly ['lora_A', 'lora_B'].")
    check_lora_shapes(nb, got, params)


@pytest.mark.grades("LoRALinear")
class TestLoRALinear:
    @pytest.mark.points(2)
    def test_base_frozen(self, nb):
        """keeps the given layer as self.base, frozen; only lora_A and lora_B train"""
        params = lora_params(nb, 0, 6, 4)
        check_lora_built(nb, lora_run(nb, params), params)

    @pytest.mark.points(2)
    def test_zero_initial_update(self, nb):
        """lora_B starts at zero and lora_A does not: the adapter starts equal to its base"""
        params = lora_params(nb, 10, ints(nb, 13, 3, 8), ints(nb, 14, 3, 8))
        got = lora_run(nb, params)
        check_lora_shapes(nb, got, params)
        desc = lora_desc(params)
        if not got["lora_B_zero"]:
            raise nb.fail("lora-b-not-zero", f"{desc}: lora_B has nonzero entries right after "
                          "construction, so the adapter's output differs from the base layer's: "
                          f"{show(got['out_initial'])} instead of {show(got['base_out'])}.")
        if got["lora_A_zero"]:
            raise nb.fail("lora-a-zero", f"{desc}: lora_A is all zeros after construction.")
        problem = mismatch(got["out_initial"], got["base_out"], rtol=1e-5, atol=1e-6)
        if problem:
            raise nb.fail("wrong-value", f"{desc}: with lora_B = 0 the adapter must return what "
                          f"the base returns: {show(got['base_out'])}, got "
                          f"{show(got['out_initial'])} ({problem[1]}).")

    @pytest.mark.points(3)
    def test_forward(self, nb):
        """the forward with given lora_A and lora_B: base(x) + scaled low-rank update"""
        params = lora_params(nb, 20, ints(nb, 23, 3, 8), ints(nb, 24, 3, 8))
        got = lora_run(nb, params)
        desc = (f"{lora_desc(params)} with lora_A and lora_B set to the check's values, on x of "
                "shape (5, in_features)")
        if got["out"] is None:
            raise nb.fail("wrong-shape", f"{desc}: " + "; ".join(got["problems"]))
        want = nb.trace("lora_trace", params, "LoRALinear")["out"]
        problem = mismatch(got["out"], want, **TOL)
        if problem:
            label = nb.match_variant(got["out"], [(lab, t["out"]) for lab, t in
                                                  nb.variant_traces("lora_trace", params, "LoRALinear")],
                                     lambda a, b: mismatch(a, b, **TOL) is None)
            raise nb.fail(label or problem[0], f"{desc}\n  expected: {show(want)}\n  got:      "
                          f"{show(got['out'])}\n  ({problem[1]})")

    @pytest.mark.points(2)
    def test_merged(self, nb):
        """merged() is a new nn.Linear equal to the adapter, the base left unchanged"""
        n = ints(nb, 30, 3, 7)
        for params in (lora_params(nb, 31, n, n), lora_params(nb, 34, n + 2, n, bias=False)):
            check_merged(nb, params)


def check_merged(nb, params):
    desc = f"{lora_desc(params)} with lora_A and lora_B set to the check's values, then merged()"
    got = lora_run(nb, params)
    if got["out"] is None:
        raise nb.fail("wrong-shape", f"{desc}: " + "; ".join(got["problems"]))
    merged = got["merged"]
    if merged.get("error"):
        raise nb.fail("crash", f"{desc} raised {merged['error']}")
    if merged["is_base"] or not merged["base_unchanged"]:
        raise nb.fail("merge-modifies-base", f"{desc}: " + (
            "returned self.base itself." if merged["is_base"] else
            "changed the weights of self.base; after the call the adapter returns "
            f"{show(merged['adapter_out_after'])} instead of {show(got['out'])}."))
    if not merged["is_linear"]:
        raise nb.fail("wrong-type", f"{desc} returned a {merged['type']}; expected an nn.Linear.")
    want = nb.trace("lora_trace", params, "LoRALinear")["merged"]
    problem = mismatch(merged["weight"], want["weight"], **TOL)
    if problem:
        label = nb.match_variant(merged["weight"], [
            (lab, (t["merged"] or {}).get("weight"))
            for lab, t in nb.variant_traces("lora_trace", params, "LoRALinear")],
            lambda a, b: mismatch(a, b, **TOL) is None)
        raise nb.fail(label or problem[0], f"{desc}: the merged weight\n  expected: "
                      f"{show(want['weight'])}\n  got:      {show(merged['weight'])}\n  ({problem[1]})")
    if merged["has_bias"] != want["has_bias"]:
        raise nb.fail("wrong-value", f"{desc}: the merged layer "
                      + ("has a bias, but the base has none." if merged["has_bias"]
                         else "has no bias, but the base has one: copy it."))
    problem = mismatch(merged["bias"], want["bias"], **TOL) or mismatch(merged["out"], got["out"], **TOL)
    if problem:
        raise nb.fail(problem[0], f"{desc}: the merged layer does not compute what the adapter "
                      f"computes: {show(merged['out'])} instead of {show(got['out'])} ({problem[1]}).")


# ---- lora_param_count ----------------------------------------------------------------------------

@pytest.mark.grades("lora_param_count")
class TestLoraParamCount:
    @pytest.mark.points(1)
    def test_square_layer(self, nb):
        """a 768 x 768 projection with rank 8"""
        nb.expect("lora_param_count", 768, 768, int(nb.rng(40).choice([4, 8, 16])))

    @pytest.mark.points(1)
    def test_rectangular_layer(self, nb):
        """in_features != out_features, small and large ranks"""
        nb.expect("lora_param_count", ints(nb, 41, 5, 50), ints(nb, 42, 60, 200), ints(nb, 43, 1, 5))
        nb.expect("lora_param_count", 1024, 4096, 64)


# ---- DynamicLossScaler ----------------------------------------------------------------------------

STEP_KEYS = ("returned", "stepped", "seen_grads", "weights_finite", "scale", "scale_factor")


def scaler_view(trace, keys=STEP_KEYS):
    """The parts of the trace a check compares: some fields of every step, and the final weights
    when the check is about what the optimizer did."""
    view = [[s[k] for k in keys] for s in trace["steps"]]
    return view + [trace["weights"]] if "seen_grads" in keys else view


def scaler_params(nb, k, script, growth_interval):
    return dict(script=script, init_scale=float(2 ** int(nb.rng(k).integers(8, 17))),
                growth_factor=2.0, backoff_factor=0.5, growth_interval=growth_interval,
                seed=nb.seed(k + 1), lr=0.05)


def scaler_rule(got, want):
    """A label read off the student's trace against the expected one, when no variant matches."""
    for g, w in zip(got["steps"], want["steps"]):
        if g["kind"] != "ok" and (g["stepped"] or not g["weights_finite"]):
            return "steps-on-overflow"
        if g["kind"] == "ok" and g["seen_grads"] is not None and w["seen_grads"] is not None:
            scaled = w["seen_grads"] * w["scale_factor"] if w["scale_factor"] else None
            if scaled is not None and mismatch(g["seen_grads"], scaled, rtol=1e-4, atol=1e-6) is None:
                return "grads-not-unscaled"
    for before, g in zip([None] + got["steps"], got["steps"]):
        if before and g["kind"] != "ok" and g["scale"] == before["scale"]:
            return "scale-not-backed-off"
    return None


def check_scaler(nb, params, keys=STEP_KEYS):
    script = params["script"]
    desc = (f"DynamicLossScaler(init_scale={params['init_scale']:g}, growth_factor=2.0, "
            f"backoff_factor=0.5, growth_interval={params['growth_interval']}) over {len(script)} "
            f"steps {script} (an inf or a NaN planted in one gradient after backward on the "
            "steps so marked)")
    got = nb.run("DynamicLossScaler", "loss_scaler_trace", params)
    want = nb.trace("loss_scaler_trace", params, "DynamicLossScaler")
    problem = mismatch(scaler_view(got, keys), scaler_view(want, keys), **TOL)
    if problem is None:
        return
    label = nb.match_variant(
        scaler_view(got, keys), [(lab, scaler_view(t, keys)) for lab, t in
                                 nb.variant_traces("loss_scaler_trace", params, "DynamicLossScaler")],
        lambda a, b: mismatch(a, b, equal_nan=True, **TOL) is None) or scaler_rule(got, want)
    for i, (g, w) in enumerate(zip(got["steps"], want["steps"])):
        for key in keys:
            bad = mismatch(g[key], w[key], **TOL)
            if bad:
                raise nb.fail(label or bad[0], f"{desc}:\n  at step {i} ({g['kind']}), {key}: "
                              f"{show(g[key])}, expected {show(w[key])} ({bad[1]}).\n"
                              f"  scale after each step: {[s['scale'] for s in got['steps']]}, "
                              f"expected {[s['scale'] for s in want['steps']]}\n"
                              f"  step() returned: {[s['returned'] for s in got['steps']]}, "
                              f"expected {[s['returned'] for s in want['steps']]}")
    raise nb.fail(label or problem[0], f"{desc}: the weights after the last step differ from those "
                  f"torch.amp.GradScaler leaves ({problem[1]}).")


@pytest.mark.grades("DynamicLossScaler")
class TestDynamicLossScaler:
    @pytest.mark.points(1)
    def test_scale_loss(self, nb):
        """scale(loss) multiplies the loss by the current scale"""
        check_scaler(nb, scaler_params(nb, 0, ["ok"], 100), keys=("scale_factor",))

    @pytest.mark.points(3)
    def test_unscales_gradients(self, nb):
        """good steps: the optimizer steps with the gradients divided by the scale"""
        check_scaler(nb, scaler_params(nb, 10, ["ok", "ok", "ok"], 100),
                     keys=("stepped", "seen_grads", "weights_finite"))

    @pytest.mark.points(3)
    def test_skips_overflow(self, nb):
        """an inf and a NaN gradient: the step is skipped, the scale halved, step() returns False"""
        check_scaler(nb, scaler_params(nb, 20, ["ok", "inf", "ok", "nan", "ok"], 100),
                     keys=("returned", "stepped", "weights_finite", "scale"))

    @pytest.mark.points(2)
    def test_growth_interval(self, nb):
        """the scale doubles after every growth_interval good steps in a row"""
        check_scaler(nb, scaler_params(nb, 30, ["ok"] * 7, 3), keys=("stepped", "scale"))

    @pytest.mark.points(1)
    def test_count_restarts_after_overflow(self, nb):
        """an overflow restarts the count of good steps"""
        check_scaler(nb, scaler_params(nb, 40, ["ok", "ok", "inf", "ok", "ok", "ok", "ok"], 3),
                     keys=("stepped", "scale"))


# ---- training_memory_bytes -----------------------------------------------------------------------

def n_params(nb, k):
    return int(nb.rng(k).integers(10_000, 10_000_000))


@pytest.mark.grades("training_memory_bytes")
class TestTrainingMemoryBytes:
    @pytest.mark.points(2)
    def test_fp32(self, nb):
        """fp32 training with sgd, momentum and adam"""
        nb.expect_each("training_memory_bytes", [(n_params(nb, 50 + i), optimizer, False)
                                                 for i, optimizer in enumerate(("sgd", "momentum", "adam"))])

    @pytest.mark.points(2)
    def test_mixed_precision(self, nb):
        """mixed precision with sgd, momentum and adam"""
        # judged together: one optimizer's number can fit two mistakes (fp16 momentum state and
        # forgotten gradients both give 10 bytes per parameter), the three together cannot
        nb.expect_each("training_memory_bytes", [(n_params(nb, 60 + i), optimizer, True)
                                                 for i, optimizer in enumerate(("sgd", "momentum", "adam"))])

    @pytest.mark.points(1)
    def test_activations(self, nb):
        """stored activations in both precisions"""
        acts = int(nb.rng(70).integers(1_000_000, 50_000_000))
        nb.expect_each("training_memory_bytes", [(n_params(nb, 71), "adam", False, acts),
                                                 (n_params(nb, 72), "momentum", True, acts)])
