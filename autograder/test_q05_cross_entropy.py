"""Checks for q05_cross_entropy. Inputs come from nb.rng (public and hidden runs); the expected
values and the mistakes' results come from the oracle."""
import numpy as np
import pytest


def logits(nb, k, *shape, scale=2.0):
    return nb.rng(k).normal(scale=scale, size=shape)


def classes(nb, k, batch, num_classes):
    return nb.rng(k).integers(0, num_classes, size=batch)


def huge(nb, k=99):
    """Large, widely spread logits: naive formulas overflow or take log(0) here."""
    base = np.array([[1000.0, 999.0, 998.0], [-1000.0, 0.0, 1000.0], [5.0, -800.0, 3.0]])
    return base + nb.rng(k).uniform(-0.5, 0.5, size=base.shape)


@pytest.mark.grades("softmax")
class TestSoftmax:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """probabilities of a small batch of logits"""
        nb.expect("softmax", logits(nb, 0, 2, 3))

    @pytest.mark.points(3)
    def test_large_logits(self, nb):
        """logits near +-1000 do not overflow"""
        nb.expect("softmax", huge(nb))

    @pytest.mark.points(1)
    def test_axis_argument(self, nb):
        """normalises along the axis it is given"""
        nb.expect("softmax", logits(nb, 1, 2, 3, 4), axis=1)
        nb.expect("softmax", logits(nb, 2, 4, 3), axis=0)

    @pytest.mark.points(1)
    def test_single_vector(self, nb):
        """a 1-D vector of logits"""
        nb.expect("softmax", logits(nb, 3, 6))


@pytest.mark.grades("log_softmax")
class TestLogSoftmax:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """log-probabilities of a small batch"""
        nb.expect("log_softmax", logits(nb, 4, 3, 5))

    @pytest.mark.points(2)
    def test_large_logits(self, nb):
        """a probability of e^-1000 gives -1000, not -inf"""
        nb.expect("log_softmax", huge(nb))

    @pytest.mark.points(1)
    def test_axis_argument(self, nb):
        """normalises along the axis it is given"""
        nb.expect("log_softmax", logits(nb, 5, 4, 3), axis=0)


@pytest.mark.grades("cross_entropy")
class TestCrossEntropy:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """mean loss of a batch of 4"""
        nb.expect("cross_entropy", logits(nb, 6, 4, 5), classes(nb, 6, 4, 5))

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        """a batch of one example"""
        nb.expect("cross_entropy", logits(nb, 7, 1, 3), classes(nb, 7, 1, 3))

    @pytest.mark.points(1)
    def test_confident_and_wrong(self, nb):
        """confidently wrong logits give a large, finite loss"""
        nb.expect("cross_entropy", huge(nb), np.array([2, 0, 1]))


@pytest.mark.grades("cross_entropy_grad")
class TestCrossEntropyGrad:
    @pytest.mark.points(3)
    def test_matches_reference(self, nb):
        """gradient of the mean loss for a batch of 4"""
        nb.expect("cross_entropy_grad", logits(nb, 8, 4, 3), classes(nb, 8, 4, 3))

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        """stays finite for logits near +-1000"""
        nb.expect("cross_entropy_grad", huge(nb), np.array([2, 0, 1]))

    @pytest.mark.points(1)
    def test_many_classes(self, nb):
        """10 classes, batch of 6"""
        nb.expect("cross_entropy_grad", logits(nb, 9, 6, 10), classes(nb, 9, 6, 10))


@pytest.mark.grades("binary_cross_entropy_with_logits")
class TestBinaryCrossEntropy:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """mean loss of 8 logits with 0/1 targets"""
        nb.expect("binary_cross_entropy_with_logits", logits(nb, 10, 8),
                  nb.rng(110).integers(0, 2, 8).astype(float))

    @pytest.mark.points(2)
    def test_saturated_logits(self, nb):
        """logits of +-100 and +-800 give finite losses"""
        x = np.array([100.0, -100.0, 800.0, -800.0, 0.5]) * nb.rng(111).uniform(0.9, 1.1, size=5)
        nb.expect("binary_cross_entropy_with_logits", x, np.array([0.0, 1.0, 1.0, 0.0, 1.0]))

    @pytest.mark.points(1)
    def test_soft_targets_2d(self, nb):
        """targets in [0, 1] on a 2-D batch"""
        nb.expect("binary_cross_entropy_with_logits", logits(nb, 11, 3, 4), nb.rng(112).uniform(size=(3, 4)))


@pytest.mark.grades("label_smoothing_cross_entropy")
class TestLabelSmoothing:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        """smoothing 0.1 on a batch of 5, 4 classes"""
        nb.expect("label_smoothing_cross_entropy", logits(nb, 12, 5, 4), classes(nb, 12, 5, 4), 0.1)

    @pytest.mark.points(1)
    def test_no_smoothing_is_cross_entropy(self, nb):
        """smoothing 0 is plain cross-entropy"""
        nb.expect("label_smoothing_cross_entropy", logits(nb, 13, 3, 6), classes(nb, 13, 3, 6), 0.0)

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        """stays finite for logits near +-1000"""
        nb.expect("label_smoothing_cross_entropy", huge(nb), np.array([0, 2, 1]), 0.2)
