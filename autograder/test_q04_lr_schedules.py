"""Checks for q04_lr_schedules.

A schedule is checked over a whole run in one call: the schedule_values harness of
autograder/harnesses/q04_lr_schedules.py evaluates the student's function at every step in the
worker, and the oracle runs the same harness on the references. Where the catalogue says "as" a
torch scheduler (StepLR, ExponentialLR, OneCycleLR, CosineAnnealingWarmRestarts), the reference is
that scheduler itself, stepped in the trusted process; the values must agree to 1e-10 (relative) at
every step of runs of 1,000 steps, step 0 and the last step included, and past the end where the
catalogue defines it. make_warmup_cosine_scheduler is run by a harness on SGD with two param groups
of different base lrs, and compared with the reference LambdaLR group by group. On a mismatch, the
variant whose values reproduce the student's names the mistake. Inputs come from nb.rng, so the
hidden run varies them while keeping what tells the mistakes apart: step sizes and warmups well
inside the run, min_lr > 0, and pct_start * total_steps a whole number.
"""
import numpy as np
import pytest



RTOL = 1e-10


# ---- helpers ---------------------------------------------------------------------------------------

def values_of(trace):
    return np.array([np.nan if v is None else v for v in trace["values"]], dtype=np.float64)


def check_schedule(nb, function, steps, args, kwargs=None, scale=1.0):
    """function(step, *args, **kwargs) at every step of `steps` against the reference's values."""
    kwargs = dict(kwargs or {})
    steps = [int(s) for s in steps]
    params = dict(function=function, steps=steps, args=list(args), kwargs=kwargs)
    shown = ", ".join([repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    called = f"{function}(step, {shown}) for step = {steps[0]} .. {steps[-1]}"
    # A whole run is one call. Replaying a torch scheduler from step 0 at every call is correct but
    # quadratic (about 15 s for 1,000 steps here), so the call gets three times the usual limit.
    got = nb.run(function, "schedule_values", params, timeout=60)
    if any(v is None for v in got["values"]):
        bad = next(i for i, v in enumerate(got["values"]) if v is None)
        raise nb.fail("wrong-type", f"{called}\nat step {steps[bad]} returned a {', '.join(got['types'])}, "
                      "not a number: return a Python float (or int).")
    values = values_of(got)
    expected = values_of(nb.trace("schedule_values", params, function))
    atol = 1e-12 * scale
    close = np.isclose(values, expected, rtol=RTOL, atol=atol)
    if close.all():
        return

    def same(g, v):
        return np.allclose(values_of(g), values_of(v), rtol=RTOL, atol=atol, equal_nan=True)

    label = nb.match_variant(got, nb.variant_traces("schedule_values", params, function), same)
    if label is None:
        label = "nan-or-inf" if not np.all(np.isfinite(values)) else "wrong-value"
    wrong = np.flatnonzero(~close)
    first = int(wrong[0])
    around = [i for i in (0, first - 1, first, first + 1, len(steps) - 1) if 0 <= i < len(steps)]
    table = "\n".join(f"    step {steps[i]:>5}: expected {expected[i]:.10g}, got {values[i]:.10g}"
                      for i in sorted(set(around)))
    raise nb.fail(label, f"{called}\ndiffers at {len(wrong)} of {len(steps)} steps, first at step "
                  f"{steps[first]}:\n{table}")


def ints(nb, k, low, high):
    return int(nb.rng(k).integers(low, high))


def lr(nb, k, low=1e-3, high=1.0):
    """A learning rate drawn log-uniformly."""
    return float(np.exp(nb.rng(k).uniform(np.log(low), np.log(high))))


# ---- constant, step, exponential -------------------------------------------------------------------

@pytest.mark.grades("constant_lr")
class TestConstantLr:
    @pytest.mark.points(1)
    def test_constant(self, nb):
        """the same lr at every one of 1,000 steps"""
        base = lr(nb, 0)
        check_schedule(nb, "constant_lr", range(1000), [base], scale=base)


@pytest.mark.grades("step_decay_lr")
class TestStepDecayLr:
    @pytest.mark.points(2)
    def test_long_run(self, nb):
        """1,000 steps equal torch's StepLR at every step (the drop comes exactly at each multiple)"""
        base, size = lr(nb, 10), ints(nb, 11, 60, 250)
        gamma = float(nb.rng(12).uniform(0.3, 0.7))
        check_schedule(nb, "step_decay_lr", range(1000), [base, size], dict(gamma=gamma), scale=base)

    @pytest.mark.points(1)
    def test_default_gamma(self, nb):
        """the default gamma 0.1, small step_size"""
        base, size = lr(nb, 13), ints(nb, 14, 3, 12)
        check_schedule(nb, "step_decay_lr", range(6 * size), [base, size], scale=base)


@pytest.mark.grades("exponential_lr")
class TestExponentialLr:
    @pytest.mark.points(2)
    def test_long_run(self, nb):
        """1,000 steps equal torch's ExponentialLR at every step"""
        base, gamma = lr(nb, 20), float(nb.rng(21).uniform(0.99, 0.999))
        check_schedule(nb, "exponential_lr", range(1000), [base, gamma], scale=base)


# ---- cosine ----------------------------------------------------------------------------------------

@pytest.mark.grades("cosine_lr")
class TestCosineLr:
    @pytest.mark.points(1)
    def test_to_zero(self, nb):
        """half a cosine from base_lr to 0 over total_steps"""
        base, total = lr(nb, 30), ints(nb, 31, 300, 1000)
        check_schedule(nb, "cosine_lr", range(total), [total, base], scale=base)

    @pytest.mark.points(2)
    def test_min_lr(self, nb):
        """min_lr > 0: from base_lr down to min_lr"""
        base, total = lr(nb, 32), ints(nb, 33, 300, 1000)
        floor = base * float(nb.rng(34).uniform(0.05, 0.3))
        check_schedule(nb, "cosine_lr", range(total + 1), [total, base], dict(min_lr=floor), scale=base)

    @pytest.mark.points(1)
    def test_after_the_end(self, nb):
        """min_lr from total_steps on (checked 200 steps past the end)"""
        base, total = lr(nb, 35), ints(nb, 36, 100, 400)
        floor = base * float(nb.rng(37).uniform(0.05, 0.3))
        check_schedule(nb, "cosine_lr", range(total + 200), [total, base], dict(min_lr=floor), scale=base)


@pytest.mark.grades("warmup_cosine_lr")
class TestWarmupCosineLr:
    @pytest.mark.points(3)
    def test_long_run(self, nb):
        """1,000 steps: linear warmup from 0, cosine to min_lr, min_lr past the end"""
        base, warmup = lr(nb, 40, 1e-4, 1e-2), ints(nb, 41, 50, 150)
        floor = base * float(nb.rng(42).uniform(0.02, 0.2))
        check_schedule(nb, "warmup_cosine_lr", range(1050), [1000, warmup, base], dict(min_lr=floor),
                       scale=base)

    @pytest.mark.points(1)
    def test_short_warmup(self, nb):
        """a short run: 0 at step 0, base_lr at step warmup_steps, default min_lr 0"""
        base, warmup = lr(nb, 43), ints(nb, 44, 3, 10)
        total = warmup + ints(nb, 45, 10, 40)
        check_schedule(nb, "warmup_cosine_lr", range(total + 10), [total, warmup, base], scale=base)

    @pytest.mark.points(1)
    def test_no_warmup(self, nb):
        """warmup_steps = 0 is a plain cosine"""
        base, total = lr(nb, 46), ints(nb, 47, 50, 300)
        floor = base * float(nb.rng(48).uniform(0.02, 0.2))
        check_schedule(nb, "warmup_cosine_lr", range(total + 5), [total, 0, base], dict(min_lr=floor),
                       scale=base)


# ---- one cycle, SGDR, linear scaling ---------------------------------------------------------------

@pytest.mark.grades("one_cycle_lr")
class TestOneCycleLr:
    @pytest.mark.points(2)
    def test_long_run(self, nb):
        """1,000 steps with the defaults equal torch's OneCycleLR, the last step included"""
        peak = lr(nb, 50)
        check_schedule(nb, "one_cycle_lr", range(1000), [1000, peak], scale=peak)

    @pytest.mark.points(1)
    def test_arguments(self, nb):
        """pct_start, div_factor and final_div_factor of your choosing"""
        peak, total = lr(nb, 51), 4 * ints(nb, 52, 50, 200)
        check_schedule(nb, "one_cycle_lr", range(total), [total, peak],
                       dict(pct_start=0.25, div_factor=10.0, final_div_factor=100.0), scale=peak)


@pytest.mark.grades("sgdr_lr")
class TestSgdrLr:
    @pytest.mark.points(1)
    def test_equal_periods(self, nb):
        """1,000 steps with restarts every t0 steps equal torch's CosineAnnealingWarmRestarts"""
        base, t0 = lr(nb, 60), ints(nb, 61, 50, 200)
        check_schedule(nb, "sgdr_lr", range(1000), [base, t0], scale=base)

    @pytest.mark.points(2)
    def test_growing_periods(self, nb):
        """t_mult = 2 and min_lr > 0 over 1,000 steps"""
        base, t0 = lr(nb, 62), ints(nb, 63, 20, 100)
        floor = base * float(nb.rng(64).uniform(0.02, 0.2))
        check_schedule(nb, "sgdr_lr", range(1000), [base, t0], dict(t_mult=2, min_lr=floor), scale=base)


@pytest.mark.grades("linear_scaled_lr")
class TestLinearScaledLr:
    @pytest.mark.points(1)
    def test_scaling(self, nb):
        """larger and smaller batches than the base batch size"""
        base, batch = lr(nb, 70), 2 ** ints(nb, 71, 5, 9)
        nb.expect("linear_scaled_lr", base, batch, batch * 2 ** ints(nb, 72, 1, 4), rtol=1e-12)
        nb.expect("linear_scaled_lr", base, batch, ints(nb, 73, 8, batch), rtol=1e-12)


# ---- make_warmup_cosine_scheduler ------------------------------------------------------------------

def check_scheduler(nb, base_lrs, total, warmup, ratio=None):
    params = dict(base_lrs=list(base_lrs), total_steps=total, warmup_steps=warmup, min_lr_ratio=ratio)
    extra = "" if ratio is None else f", min_lr_ratio={ratio:.3g}"
    called = (f"make_warmup_cosine_scheduler(optimizer, {total}, {warmup}{extra}) with SGD over two "
              f"param groups of base lr {base_lrs[0]:.4g} and {base_lrs[1]:.4g}, stepped {total + 5} times")
    got = nb.run("make_warmup_cosine_scheduler", "warmup_cosine_scheduler_trace", params)
    if not got["is_lambda_lr"]:
        raise nb.fail("wrong-type", f"{called}\nreturned a {got['type']}; expected a "
                      "torch.optim.lr_scheduler.LambdaLR.")
    lrs = np.array(got["lrs"], dtype=np.float64)
    expected = np.array(nb.trace("warmup_cosine_scheduler_trace", params, "make_warmup_cosine_scheduler")["lrs"])
    close = np.isclose(lrs, expected, rtol=RTOL, atol=1e-12 * max(base_lrs))
    if close.all():
        return

    def same(g, v):
        return np.allclose(np.array(g["lrs"], dtype=np.float64), np.array(v["lrs"], dtype=np.float64),
                           rtol=RTOL, atol=1e-12 * max(base_lrs))

    label = nb.match_variant(got, nb.variant_traces("warmup_cosine_scheduler_trace", params,
                                                    "make_warmup_cosine_scheduler"), same) or "wrong-value"
    step, group = (int(i) for i in np.argwhere(~close)[0])
    rows = [s for s in (0, warmup, step, total // 2, total) if s < len(lrs)]
    table = "\n".join(f"    after {s:>4} steps: expected {expected[s, 0]:.6g}, {expected[s, 1]:.6g}; "
                      f"got {lrs[s, 0]:.6g}, {lrs[s, 1]:.6g}" for s in sorted(set(rows)))
    raise nb.fail(label, f"{called}\nthe lr of param group {group} first differs after {step} steps "
                  f"(expected, then yours, for the two groups):\n{table}")


@pytest.mark.grades("make_warmup_cosine_scheduler")
class TestMakeWarmupCosineScheduler:
    @pytest.mark.points(3)
    def test_two_param_groups(self, nb):
        """a LambdaLR: each param group follows warmup + cosine from its own base lr"""
        base = lr(nb, 80, 1e-3, 1e-1)
        check_scheduler(nb, (base, base * float(nb.rng(81).uniform(0.05, 0.3))), ints(nb, 82, 100, 300),
                        ints(nb, 83, 10, 40), ratio=float(nb.rng(84).uniform(0.05, 0.2)))

    @pytest.mark.points(1)
    def test_default_min_ratio(self, nb):
        """the default min_lr_ratio 0, stepped past the end"""
        base = lr(nb, 85, 1e-3, 1e-1)
        check_scheduler(nb, (base * float(nb.rng(86).uniform(2, 10)), base), ints(nb, 87, 40, 120),
                        ints(nb, 88, 5, 20))
