"""Checks for q05_cross_entropy. Inputs are seeded; expected values come from the references."""
import numpy as np
import pytest

from autograder.references import q05_cross_entropy as REFERENCES  # noqa: N812 - read by the plugin

ASSIGNMENT = "q05_cross_entropy"


def logits(seed, *shape, scale=2.0):
    return np.random.default_rng(seed).normal(scale=scale, size=shape)


def classes(seed, batch, num_classes):
    return np.random.default_rng(seed).integers(0, num_classes, size=batch)


# Large, widely spread logits: naive formulas overflow or take log(0) here.
HUGE = np.array([[1000.0, 999.0, 998.0], [-1000.0, 0.0, 1000.0], [5.0, -800.0, 3.0]])


@pytest.mark.grades("softmax")
class TestSoftmax:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("softmax", logits(0, 2, 3), names=("z",))

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        nb.expect("softmax", HUGE, names=("z",))

    @pytest.mark.points(1)
    def test_axis_argument(self, nb):
        nb.expect("softmax", logits(1, 2, 3, 4), axis=1, names=("z",))
        nb.expect("softmax", logits(2, 4, 3), axis=0, names=("z",))

    @pytest.mark.points(1)
    def test_single_vector(self, nb):
        nb.expect("softmax", logits(3, 6), names=("z",))


@pytest.mark.grades("log_softmax")
class TestLogSoftmax:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("log_softmax", logits(4, 3, 5), names=("z",))

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        nb.expect("log_softmax", HUGE, names=("z",))

    @pytest.mark.points(1)
    def test_axis_argument(self, nb):
        nb.expect("log_softmax", logits(5, 4, 3), axis=0, names=("z",))


@pytest.mark.grades("cross_entropy")
class TestCrossEntropy:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("cross_entropy", logits(6, 4, 5), classes(6, 4, 5), names=("logits", "targets"))

    @pytest.mark.points(1)
    def test_batch_of_one(self, nb):
        nb.expect("cross_entropy", logits(7, 1, 3), np.array([2]), names=("logits", "targets"))

    @pytest.mark.points(1)
    def test_confident_and_wrong(self, nb):
        nb.expect("cross_entropy", HUGE, np.array([2, 0, 1]), names=("logits", "targets"))


@pytest.mark.grades("cross_entropy_grad")
class TestCrossEntropyGrad:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("cross_entropy_grad", logits(8, 4, 3), classes(8, 4, 3),
                  names=("logits", "targets"))

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        nb.expect("cross_entropy_grad", HUGE, np.array([2, 0, 1]), names=("logits", "targets"))

    @pytest.mark.points(1)
    def test_many_classes(self, nb):
        nb.expect("cross_entropy_grad", logits(9, 6, 10), classes(9, 6, 10),
                  names=("logits", "targets"))


@pytest.mark.grades("binary_cross_entropy_with_logits")
class TestBinaryCrossEntropy:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        rng = np.random.default_rng(10)
        nb.expect("binary_cross_entropy_with_logits", logits(10, 8),
                  rng.integers(0, 2, 8).astype(float), names=("logits", "targets"))

    @pytest.mark.points(1)
    def test_saturated_logits(self, nb):
        nb.expect("binary_cross_entropy_with_logits", np.array([100.0, -100.0, 800.0, -800.0, 0.5]),
                  np.array([0.0, 1.0, 1.0, 0.0, 1.0]), names=("logits", "targets"))

    @pytest.mark.points(1)
    def test_soft_targets_2d(self, nb):
        rng = np.random.default_rng(11)
        nb.expect("binary_cross_entropy_with_logits", logits(11, 3, 4), rng.uniform(size=(3, 4)),
                  names=("logits", "targets"))


@pytest.mark.grades("label_smoothing_cross_entropy")
class TestLabelSmoothing:
    @pytest.mark.points(2)
    def test_matches_reference(self, nb):
        nb.expect("label_smoothing_cross_entropy", logits(12, 5, 4), classes(12, 5, 4), 0.1,
                  names=("logits", "targets", "smoothing"))

    @pytest.mark.points(1)
    def test_no_smoothing_is_cross_entropy(self, nb):
        nb.expect("label_smoothing_cross_entropy", logits(13, 3, 6), classes(13, 3, 6), 0.0,
                  names=("logits", "targets", "smoothing"))

    @pytest.mark.points(1)
    def test_large_logits(self, nb):
        nb.expect("label_smoothing_cross_entropy", HUGE, np.array([0, 2, 1]), 0.2,
                  names=("logits", "targets", "smoothing"))
