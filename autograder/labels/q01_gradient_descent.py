"""q01_gradient_descent: the functions a student writes and the mistakes its checks can name."""
import numpy as np

from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("numerical_gradient", "gd_path", "hessian", "classify_critical_point",
               "max_stable_lr", "iterations_per_epoch"),
    catalogue={
        "forward-difference": (
            "the numerical gradient uses a one-sided difference, (f(p+eps) - f(p)) / eps, whose error "
            "shrinks only like eps, so it is off in the fifth or sixth digit.",
            "Use the central difference (f(p+eps) - f(p-eps)) / (2*eps): its error shrinks like eps**2."),
        "gradient-ascent": (
            "the path climbs: the step was added to p instead of subtracted, so the loss goes up.",
            "Move against the gradient: p = p - lr * v."),
        "momentum-on-gradient": (
            "momentum was applied to the current (or previous) gradient instead of to a velocity that "
            "accumulates every past gradient, so the path has no memory beyond one step.",
            "Keep a velocity across steps: v = momentum * v + g, then p = p - lr * v."),
        "velocity-not-carried": (
            "the velocity starts from zero again at every step, so momentum never builds up and the "
            "path is plain gradient descent.",
            "Create v = zeros before the loop and update that same v inside it."),
        "missing-initial-point": (
            "the path does not start with p0: it should hold steps + 1 points, the start included.",
            "Put p0 in the path before the first step, then append each new point."),
        "determinant-only": (
            "the point was classified from the determinant (and trace or H[0,0]) of the Hessian, a "
            "test that only works for 2x2 matrices and misjudges small or mixed eigenvalues.",
            "Look at the signs of the eigenvalues (np.linalg.eigvalsh): all > tol is a minimum, all "
            "< -tol a maximum, mixed signs a saddle, any |eigenvalue| <= tol degenerate."),
        "uses-min-eigenvalue": (
            "the bound used the smallest eigenvalue, but the steepest direction (the largest "
            "eigenvalue) is the first to diverge.",
            "Use the largest eigenvalue of the Hessian: 2 / lambda_max."),
        "missing-factor-2": (
            "the bound is 1 / lambda_max; that step size converges fastest along the steepest "
            "direction, but gradient descent only diverges beyond twice that.",
            "On a quadratic each direction is multiplied by |1 - lr*lambda| per step: solve "
            "|1 - lr*lambda_max| < 1 for lr."),
        "off-by-one-batch": (
            "the number of batches is off by one: the last, smaller batch was dropped when it should "
            "be kept, kept when drop_last asks to drop it, or counted when there is none.",
            "Without drop_last the last partial batch counts (ceil(n / batch_size)); with drop_last "
            "it does not (n // batch_size). Try n = 10, batch_size = 5 and 4 by hand."),
    },
    uses=("mutates-input",),
    extra={
        "noise-ignored": (
            "the noise array was not added to the gradient, so the noisy path equals the clean one.",
            "At step t use g = grad_fn(p) + noise[t] (when noise is given)."),
        "hessian-not-symmetric": (
            "the Hessian is not symmetric: a second-derivative matrix has H[i, j] == H[j, i].",
            "Use a symmetric difference formula for H[i, j], or average the matrix with its "
            "transpose: (H + H.T) / 2."),
    },
)


@LABELS.detector("hessian", "hessian-not-symmetric")
def hessian_not_symmetric(got, *args, **kwargs):
    """A square matrix whose asymmetry is far above the rounding a numerical Hessian carries
    (about 1e-8 of its largest entry; a scheme that treats i and j differently is off by about
    eps times a third derivative)."""
    h = np.asarray(got, dtype=np.float64)
    if h.ndim != 2 or h.shape[0] != h.shape[1] or not np.all(np.isfinite(h)):
        return False
    return bool(np.max(np.abs(h - h.T)) > 1e-6 * max(1.0, np.max(np.abs(h))))
