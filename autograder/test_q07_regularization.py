"""Checks for q07_regularization.

The penalties, soft_threshold, lasso_ista and ridge_closed_form take plain arrays: they are
compared with the oracle, whose ridge reference is scikit-learn's Ridge with alpha = n * lam; the
exact zeros of lasso_ista run to convergence are compared with those of scikit-learn's Lasso on the
same problem (asked of the oracle: `sklearn_lasso`). On a mismatch the pitfall variants name the
mistake.

dropout takes a torch.Generator and is graded on properties, not on one mask: a harness of
autograder/harnesses/q07_regularization.py calls it on 20 000 positive values with a seeded
generator and reports the fraction kept, the factors the kept values were multiplied by, the mean
of the output against the input's, whether evaluation returned the input, and which generator was
drawn from; the rules below judge those numbers (with five standard deviations of slack on the
sampled ones). decay_param_groups takes a model: the harness builds one with Linear, Conv1d/2d,
BatchNorm, LayerNorm and Embedding layers (nested), calls the student's function, and reports the
weight decay each named parameter ended up with; that map is compared with the references' trace
(nb.trace), and the variants' traces name the mistake. Inputs come from nb.rng / nb.seed.
"""
import numpy as np
import pytest

from whiteboard.grading.compare import as_numpy, is_array, mismatch, show


# ---- inputs --------------------------------------------------------------------------------------

def weights(nb, k, shape):
    return nb.rng(k).normal(scale=1.5, size=shape)


def sparse_problem(rng, n=60, d=12, k=3, noise=0.1):
    """A regression whose true weights have k clearly nonzero entries out of d."""
    X = rng.normal(size=(n, d))
    w = np.zeros(d)
    idx = rng.choice(d, k, replace=False)
    w[idx] = rng.uniform(1.5, 3.0, k) * rng.choice([-1.0, 1.0], k)
    return X, X @ w + noise * rng.normal(size=n)


def step_size(X):
    """1 / L, L the largest eigenvalue of X^T X / n: ISTA's classic step."""
    return float(1.0 / np.linalg.eigvalsh(X.T @ X / X.shape[0]).max())


# ---- l1_penalty / l2_penalty ------------------------------------------------------------------------

@pytest.mark.grades("l1_penalty")
class TestL1Penalty:
    @pytest.mark.points(1)
    def test_matrix(self, nb):
        """lam * sum |w| of a (3, 4) weight matrix"""
        nb.expect("l1_penalty", weights(nb, 0, (3, 4)), 0.3)

    @pytest.mark.points(1)
    def test_vector(self, nb):
        """a vector of weights and another lam"""
        nb.expect("l1_penalty", weights(nb, 1, (7,)), round(float(nb.rng(2).uniform(0.5, 3)), 3))


@pytest.mark.grades("l2_penalty")
class TestL2Penalty:
    @pytest.mark.points(1)
    def test_matrix(self, nb):
        """the L2 penalty of a (3, 4) weight matrix, with the exercise's factor"""
        nb.expect("l2_penalty", weights(nb, 3, (3, 4)), 0.3)

    @pytest.mark.points(1)
    def test_vector(self, nb):
        """a vector of weights and another lam"""
        nb.expect("l2_penalty", weights(nb, 4, (9,)), round(float(nb.rng(5).uniform(0.5, 3)), 3))


# ---- soft_threshold -----------------------------------------------------------------------------

@pytest.mark.grades("soft_threshold")
class TestSoftThreshold:
    @pytest.mark.points(2)
    def test_both_signs_and_the_dead_zone(self, nb):
        """weights of both signs, many inside [-t, t]"""
        nb.expect("soft_threshold", weights(nb, 6, (20,)), 0.8)

    @pytest.mark.points(1)
    def test_matrix_and_zero_threshold(self, nb):
        """a (3, 5) matrix; t = 0 changes nothing"""
        w = weights(nb, 7, (3, 5))
        nb.expect("soft_threshold", w, round(float(nb.rng(8).uniform(0.3, 1.5)), 3))
        nb.expect("soft_threshold", w, 0.0)


# ---- lasso_ista ----------------------------------------------------------------------------------

def lasso_args(nb, k, steps):
    rng = nb.rng(k)
    X, y = sparse_problem(rng)
    lam = round(float(rng.uniform(0.15, 0.3)), 3)
    return X, y, lam, step_size(X), steps


@pytest.mark.grades("lasso_ista")
class TestLassoIsta:
    @pytest.mark.points(3)
    def test_first_steps(self, nb):
        """w after 20 ISTA steps from w = 0"""
        nb.expect("lasso_ista", *lasso_args(nb, 10, 20))

    @pytest.mark.points(3)
    def test_exact_zeros_where_sklearn_lasso_has_them(self, nb):
        """run to convergence: exact zeros where scikit-learn's Lasso has them"""
        args = lasso_args(nb, 11, 150)
        X, y, lam, lr, steps = args
        got, args_after, _, _ = nb.call("lasso_ista", *args)
        target = np.asarray(nb.reference("sklearn_lasso")(X, y, lam))
        nb.reference("lasso_ista")(*args)  # so that the kit holds the variants' answers on these inputs
        called = (f"lasso_ista(X, y, lam={lam}, lr={lr:.4g}, steps={steps}) on a (60, 12) problem "
                  "whose true weights have 3 nonzero entries")
        if mismatch(args_after, list(args), rtol=0, atol=0) is not None:
            raise nb.fail("mutates-input", f"{called}\nchanged its input in place.")
        w = as_numpy(got).astype(np.float64) if is_array(got) else None
        if w is None or w.shape != target.shape:
            nb.expect("lasso_ista", *args)  # names the shape or type problem
            raise nb.fail("wrong-shape", f"{called}\nreturned {show(got)}; expected a ({X.shape[1]},) array.")
        zeros = target == 0
        if np.array_equal(w == 0, zeros) and np.allclose(w, target, rtol=0, atol=1e-6):
            return
        near = np.allclose(w, target, rtol=0, atol=0.05 * np.abs(target).max())
        if near and not (w[zeros] == 0).all():
            raise nb.fail("subgradient-no-exact-zeros", f"{called}\n  scikit-learn's Lasso: "
                          f"{show(target)}\n  yours:                {show(w)}\nClose, but where "
                          f"Lasso has {int(zeros.sum())} exact zeros yours has "
                          f"{int((w[zeros] == 0).sum())}: the weights hover around 0 instead of "
                          "landing on it.")
        label = nb.diagnose("lasso_ista", w, args, {}) or "wrong-value"
        raise nb.fail(label, f"{called}\n  scikit-learn's Lasso: {show(target)}\n  yours:           "
                      f"     {show(w)}\n  (exact zeros of Lasso at {np.flatnonzero(zeros).tolist()}, "
                      f"yours at {np.flatnonzero(w == 0).tolist()})")


# ---- ridge_closed_form ---------------------------------------------------------------------------

@pytest.mark.grades("ridge_closed_form")
class TestRidgeClosedForm:
    @pytest.mark.points(3)
    def test_equals_sklearn_ridge(self, nb):
        """equals scikit-learn's Ridge with the matching alpha, 40 examples and 6 features"""
        X, y = sparse_problem(nb.rng(20), n=40, d=6, k=3, noise=0.5)
        nb.expect("ridge_closed_form", X, y, round(float(nb.rng(21).uniform(0.1, 1.0)), 3))

    @pytest.mark.points(1)
    def test_more_features_than_examples(self, nb):
        """10 examples, 25 features: the penalty makes the answer unique"""
        X, y = sparse_problem(nb.rng(22), n=10, d=25, k=4, noise=0.2)
        nb.expect("ridge_closed_form", X, y, round(float(nb.rng(23).uniform(0.05, 0.5)), 3))


# ---- dropout -------------------------------------------------------------------------------------

def run_dropout(nb, k, p, training, dtype="float32"):
    params = {"p": float(p), "training": bool(training), "seed": nb.seed(k), "dtype": dtype}
    t = nb.run("dropout", "dropout_trace", params)
    called = (f"dropout(x, p={p:g}, training={training}, generator) on x of shape "
              f"({t['n'] // 100}, 100) ({dtype}, values in [1, 2))")
    if not t.get("is_tensor"):
        raise nb.fail("wrong-type", f"{called} returned a {t.get('type')}; expected a torch.Tensor.")
    if t["shape"] != [t["n"] // 100, 100]:
        raise nb.fail("wrong-shape", f"{called} returned shape {tuple(t['shape'])}; expected x's "
                      f"shape ({t['n'] // 100}, 100).")
    if t["input_modified"]:
        raise nb.fail("mutates-input", f"{called} changed x in place (e.g. x.mul_ or x[mask] = 0). "
                      "Return a new tensor, or x itself when nothing is dropped.")
    if not t["finite"]:
        raise nb.fail("nan-or-inf", f"{called} returned NaN or inf values.")
    return t, called


def sampling_slack(p, n):
    return 5 * (p * (1 - p) / n) ** 0.5


@pytest.mark.grades("dropout")
class TestDropout:
    @pytest.mark.points(3)
    def test_keep_rate_scale_and_mean(self, nb):
        """training: keeps about 1 - p, scales the kept values by 1/(1-p), keeps the mean"""
        for k, (lo, hi) in ((30, (0.15, 0.3)), (31, (0.65, 0.8))):
            p = round(float(nb.rng(k).uniform(lo, hi)), 2)
            t, called = run_dropout(nb, k, p, True)
            slack = sampling_slack(p, t["n"])
            scales, rate = t["kept_scales"], t["keep_rate"]
            found = f"kept {rate:.3f} of the values, multiplied by {scales[:4]}"
            rate_ok = abs(rate - (1 - p)) < slack
            scale_ok = len(scales) == 1 and abs(scales[0] * (1 - p) - 1) < 1e-3
            if rate_ok and scale_ok and abs(t["mean_ratio"] - 1) < slack / (1 - p) + 1e-3:
                continue
            label = nb.detect("dropout", t, p=p, training=True, n=t["n"])
            if label in ("keep-prob-confusion", "non-inverted-dropout"):
                raise nb.fail(label, f"{called} {found}; expected about {1 - p:.2f} kept, each "
                              f"multiplied by 1/(1-p) = {1 / (1 - p):.4g}, so that the mean of the "
                              f"output is the input's (yours: {t['mean_ratio']:.3f} times it).")
            raise nb.fail("wrong-value", f"{called} {found}; expected about {1 - p:.2f} of the "
                          f"values kept (the fraction may vary by {slack:.3f}), each multiplied by "
                          f"1/(1-p) = {1 / (1 - p):.4g}; the mean of the output came out "
                          f"{t['mean_ratio']:.3f} times the input's, expected about 1.")

    @pytest.mark.points(2)
    def test_eval_returns_the_input(self, nb):
        """evaluation: the input comes back unchanged"""
        p = round(float(nb.rng(32).uniform(0.3, 0.7)), 2)
        for k, dtype in ((33, "float64"), (34, "float32")):
            t, called = run_dropout(nb, k, p, False, dtype)
            if t["equals_input"]:
                continue
            label = nb.detect("dropout", t, p=p, training=False, n=t["n"]) or "wrong-value"
            raise nb.fail(label, f"{called} kept {t['keep_rate']:.3f} of the values, multiplied by "
                          f"{t['kept_scales'][:4]}; in evaluation dropout does nothing: expected x "
                          "itself (every value kept, none rescaled).")

    @pytest.mark.points(1)
    def test_p_zero_and_p_one(self, nb):
        """p = 0 keeps everything unchanged; p = 1 drops everything"""
        t, called = run_dropout(nb, 35, 0.0, True)
        if not t["equals_input"]:
            raise nb.fail("wrong-value", f"{called} changed the values; with p = 0 nothing is "
                          "dropped and nothing rescaled: expected x.")
        t, called = run_dropout(nb, 36, 1.0, True)
        if not t["all_zero"]:
            raise nb.fail("wrong-value", f"{called} kept {t['keep_rate']:.3f} of the values; with "
                          "p = 1 every value is dropped: expected all zeros (and no division by "
                          "1 - p = 0).")

    @pytest.mark.points(1)
    def test_draws_only_from_the_generator(self, nb):
        """the mask comes from the given generator: the same seed gives the same mask"""
        p = 0.5
        t, called = run_dropout(nb, 37, p, True)
        if t["global_rng_used"] and not t["generator_used"]:
            raise nb.fail("dropout-global-rng", f"{called} drew from torch's global generator and "
                          "never from `generator`.")
        if t["global_rng_used"]:
            raise nb.fail("dropout-global-rng", f"{called} drew from torch's global generator as "
                          "well as from `generator`: all randomness must come from `generator`.")
        if not t["generator_used"]:
            raise nb.fail("wrong-value", f"{called} never drew from `generator`: where does the "
                          "mask come from? Pass generator=generator to torch.rand or "
                          "torch.bernoulli.")
        if not t["reproducible"]:
            raise nb.fail("wrong-value", f"{called}: two calls with generators seeded alike gave "
                          "different masks; the mask must depend only on the generator's draws.")


# ---- decay_param_groups --------------------------------------------------------------------------

def run_groups(nb, k, model):
    wd = round(float(nb.rng(k).uniform(0.01, 0.2)), 3)
    params = {"weight_decay": wd, "model": model, "seed": nb.seed(k)}
    t = nb.run("decay_param_groups", "decay_groups_trace", params)
    called = f"decay_param_groups(model, weight_decay={wd}) on the {model.replace('_', ' ')} model"
    if t.get("groups") is None:
        raise nb.fail("wrong-type", f"{called} returned a {t.get('type')}; expected a list of two "
                      "dicts with keys 'params' and 'weight_decay'.")
    if t.get("weights_changed"):
        raise nb.fail("mutates-input", f"{called} changed the values of the model's parameters; "
                      "it must only sort them into groups.")
    bad_groups = [g for g in t["groups"] if "names" not in g or g.get("weight_decay") is None]
    if bad_groups:
        raise nb.fail("wrong-type", f"{called}: every group must be a dict with a 'params' list "
                      f"and a numeric 'weight_decay'; got groups {show(t['groups'])[:400]}.")
    missing = [n for n, v in t["decay_of"].items() if v == "missing"]
    twice = [n for n, v in t["decay_of"].items() if v == "duplicate"]
    if missing or twice or t["unknown"]:
        what = "; ".join(s for s in (
            f"in no group: {missing[:5]}" if missing else "",
            f"in more than one place: {twice[:5]}" if twice else "",
            f"{t['unknown']} tensors that are not parameters of the model" if t["unknown"] else "")
            if s)
        raise nb.fail("wrong-value", f"{called}: each parameter must be in exactly one group; {what}.")
    return t, params, called


def where_wrong(t, want):
    """'name (Module.attr): got wd, expected wd' for each parameter placed differently."""
    kinds = {p["name"]: f"{p['module']}.{p['attr']}" for p in t["parameters"]}
    return [f"{name} ({kinds.get(name, '?')}): weight_decay {t['decay_of'][name]:g}, expected "
            f"{want[name]:g}" for name in want if mismatch(t["decay_of"].get(name), want[name]) is not None]


def expect_groups(nb, k, model):
    t, params, called = run_groups(nb, k, model)
    want = nb.trace("decay_groups_trace", params, "decay_param_groups")["decay_of"]
    wrong = where_wrong(t, want)
    if not wrong:
        return t, called

    def same(g, v):
        return mismatch(g["decay_of"], v["decay_of"]) is None

    label = nb.match_variant(t, nb.variant_traces("decay_groups_trace", params, "decay_param_groups"),
                             same) or nb.detect("decay_param_groups", t) or "wrong-value"
    raise nb.fail(label, f"{called} put {len(wrong)} of {len(want)} parameters in the wrong "
                  "group:\n  " + "\n  ".join(wrong[:8]) + ("\n  ..." if len(wrong) > 8 else ""))


@pytest.mark.grades("decay_param_groups")
class TestDecayParamGroups:
    @pytest.mark.points(3)
    def test_only_linear_and_conv_weights_decay(self, nb):
        """Linear and Conv weights decay; biases, BatchNorm, LayerNorm and Embedding do not"""
        expect_groups(nb, 40, "standard")

    @pytest.mark.points(1)
    def test_two_groups_each_parameter_once(self, nb):
        """two groups that torch.optim.AdamW accepts, every parameter in exactly one"""
        t, params, called = run_groups(nb, 41, "standard")
        if not t["adamw_ok"]:
            raise nb.fail("wrong-type", f"{called}: torch.optim.AdamW refused the groups "
                          f"({t['adamw_error']}).")
        decays = sorted(g["weight_decay"] for g in t["groups"])
        if decays != sorted([0.0, params["weight_decay"]]):
            raise nb.fail("wrong-value", f"{called} returned {len(t['groups'])} groups with weight "
                          f"decays {decays}; expected two groups, one with the given weight_decay "
                          f"({params['weight_decay']:g}) and one with 0.0.")

    @pytest.mark.points(1)
    def test_free_parameter_and_group_norm(self, nb):
        """a bare nn.Parameter (a positional table) and a GroupNorm do not decay"""
        expect_groups(nb, 42, "free_parameter")
