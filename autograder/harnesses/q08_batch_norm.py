"""Harness for q08_batch_norm: run the conv that fold_batchnorm returns on a batch of images.

The check sends the conv's weights, the BN layer's parameters and statistics and a batch of images
(plain arrays). The harness calls fold_batchnorm, runs the folded conv on the images with
torch.nn.functional.conv2d, and also runs the original conv followed by eval-mode batch norm. In
the grading parent the oracle runs this same harness on the references (nb.trace): there
`conv_then_bn` is the ground truth, computed by PyTorch on inputs the check fixed. The check never
trusts the `conv_then_bn` a notebook process reports.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from whiteboard.worker.harness import get_function


def _tensor(a) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().to(torch.float64)
    return torch.as_tensor(np.asarray(a, dtype=np.float64))


def folded_conv_trace(namespace: dict, conv_weight, conv_bias, gamma, beta, running_mean,
                      running_var, x, eps: float = 1e-5, stride: int = 1, padding: int = 1) -> dict:
    """fold_batchnorm(conv_weight, conv_bias, gamma, beta, running_mean, running_var, eps), then
    the folded conv on x (N, C_in, H, W).

    Returns:
        folded           conv2d(x, weight', bias') with the returned weight and bias (None if they
                         could not be used as a conv's weight and bias; `error` says why)
        weight_shape, bias_shape   the shapes returned
        conv_then_bn     batch_norm(conv2d(x, conv_weight, conv_bias), eval mode): the target
        inputs_modified  fold_batchnorm changed one of its arguments in place
    """
    fn = get_function(namespace, "fold_batchnorm")
    given = [np.array(a, dtype=np.float64) for a in
             (conv_weight, conv_bias, gamma, beta, running_mean, running_var)]
    passed = [a.copy() for a in given]
    xt = _tensor(x)
    w, b, g, bt, rm, rv = (torch.as_tensor(a) for a in given)
    with torch.no_grad():
        target = F.batch_norm(F.conv2d(xt, w, b, stride=stride, padding=padding), rm.clone(),
                              rv.clone(), g, bt, training=False, eps=float(eps))
    value = fn(*passed, eps=float(eps))
    modified = any(not np.array_equal(p, q) for p, q in zip(passed, given))
    info = {"conv_then_bn": target.numpy(), "inputs_modified": bool(modified), "folded": None,
            "error": None, "weight_shape": None, "bias_shape": None}
    try:
        new_w, new_b = value
        new_w, new_b = _tensor(new_w), _tensor(new_b)
        info["weight_shape"], info["bias_shape"] = list(new_w.shape), list(new_b.shape)
        with torch.no_grad():
            info["folded"] = F.conv2d(xt, new_w, new_b.reshape(-1), stride=stride,
                                      padding=padding).numpy()
    except Exception as exc:  # noqa: BLE001 - reported: the check says what could not be used
        info["error"] = f"{type(exc).__name__}: {exc}"[:300]
    return info
