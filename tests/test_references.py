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


def test_q11_against_torch():
    import itertools

    from autograder.references import q11_convolution as q11

    cases = [(2, 3, 6, 6, 4, 3, 3, 1, 0), (1, 1, 5, 5, 1, 3, 3, 2, 0), (2, 2, 7, 9, 3, 2, 3, 2, 1),
             (1, 3, 8, 5, 2, 3, 1, 3, 2), (3, 4, 5, 5, 2, 5, 5, 1, 2)]
    for n, c, h, w, f, kh, kw, s, p in cases:
        x, W, b = rng.normal(size=(n, c, h, w)), rng.normal(size=(f, c, kh, kw)), rng.normal(size=f)
        for bias in (b, None):
            want = F.conv2d(torch.from_numpy(x), torch.from_numpy(W),
                            None if bias is None else torch.from_numpy(bias), stride=s, padding=p)
            assert np.allclose(q11.conv2d(x, W, bias, s, p), want.numpy())
    for h, w, k, s in [(6, 6, 2, 2), (7, 7, 2, 2), (8, 5, 3, 2), (7, 7, 3, 1), (9, 9, 3, 3)]:
        x = rng.normal(size=(2, 3, h, w))
        assert np.allclose(q11.max_pool2d(x, k, s), F.max_pool2d(torch.from_numpy(x), k, s).numpy())
    for n, k, s, p, d in itertools.product(range(5, 12), range(1, 5), range(1, 4), range(3), range(1, 3)):
        if n + 2 * p >= d * (k - 1) + 1:
            out = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=s, padding=p, dilation=d)
            assert out.shape[-1] == q11.conv_output_size(n, k, s, p, d)
    assert q11.conv_param_count(3, 64, 3) == sum(t.numel() for t in torch.nn.Conv2d(3, 64, 3).parameters())
    assert q11.dense_param_count(784, 10) == sum(t.numel() for t in torch.nn.Linear(784, 10).parameters())


def test_digits_read_from_the_bundled_file_equal_load_digits():
    from sklearn.datasets import load_digits

    from autograder.test_q17_training_pipeline import load_bundled_digits

    x, y = load_bundled_digits()
    data = load_digits()
    assert np.array_equal(x, data.data) and np.array_equal(y, data.target)
