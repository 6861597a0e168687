"""The references themselves agree with PyTorch, so an expected value is never wrong."""
import numpy as np
import torch
import torch.nn.functional as F

from autograder.references import q05_cross_entropy as q05

rng = np.random.default_rng(0)


def test_q05_against_torch():
    z = rng.normal(size=(6, 5)) * 3
    y = rng.integers(0, 5, size=6)
    zt, yt = torch.tensor(z, requires_grad=True), torch.tensor(y)
    assert np.allclose(q05.softmax(z), torch.softmax(zt, -1).detach().numpy())
    assert np.allclose(q05.log_softmax(z, axis=0), torch.log_softmax(zt, 0).detach().numpy())
    loss = F.cross_entropy(zt, yt)
    loss.backward()
    assert np.isclose(q05.cross_entropy(z, y), loss.item())
    assert np.allclose(q05.cross_entropy_grad(z, y), zt.grad.numpy())
    for eps in (0.0, 0.1, 0.3):
        assert np.isclose(q05.label_smoothing_cross_entropy(z, y, eps),
                          F.cross_entropy(zt, yt, label_smoothing=eps).item())
    x = np.array([-800.0, -3.0, 0.0, 2.0, 900.0])
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    assert np.isclose(q05.binary_cross_entropy_with_logits(x, t),
                      F.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t)).item())
