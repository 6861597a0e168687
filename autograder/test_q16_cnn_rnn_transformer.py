"""Checks for q16_cnn_rnn_transformer. Inputs come from nb.rng / nb.seed (public and hidden runs);
the expected values and the mistakes' results come from the oracle.

The complexity functions are called for all three architectures with sizes drawn so that the
classic mistakes give other numbers than the right answer and than each other (a (n - 1) that the
kernel's reach does not divide, n != d). sinusoidal_positional_encoding is compared with the
formula of "Attention Is All You Need" to 2e-5 (an encoding computed in float32, as in PyTorch's
tutorial, is that close for the positions used here).

build_sequence_model makes modules, so its checks run the harness `sequence_model_trace`
(harnesses/q16_cnn_rnn_transformer.py) on the student's function: it builds the model of one kind
(seeded), records the output shape, how much the outputs at positions 0..t move when token t+1
(or every token after t) changes, and the loss before and after 25 Adam steps on a repeating
sequence. The rules of the labels module judge that trace (shape, causality, learning): there is
no expected value to ask the oracle for.
"""
import pytest

from autograder.labels.q16_cnn_rnn_transformer import (causality_problem, learning_problem,
                                                       shape_problem)

ARCHS = ("rnn", "cnn", "self_attention")


def ints(nb, k, low, high):
    return int(nb.rng(k).integers(low, high))


def telling_length(nb, k, kernel, low, high):
    """A sequence length n for which a stack of kernel-`kernel` convolutions needs a partial last
    layer (so rounding down shows) and for which dividing by the kernel gives yet another number."""
    rng = nb.rng(k)
    for _ in range(1000):
        n = int(rng.integers(low, high))
        reach = kernel - 1
        floor, ceil = (n - 1) // reach, -(-(n - 1) // reach)
        divided = {-(-(n - 1) // kernel), -(-n // kernel), n // kernel}
        if (reach > 1 and floor == ceil) or floor in divided or ceil in divided:
            continue
        return n
    raise AssertionError("no telling length in range")   # never: the ranges used have many


# ---- max_path_length ----------------------------------------------------------------------------

@pytest.mark.grades("max_path_length")
class TestMaxPathLength:
    @pytest.mark.points(1)
    def test_rnn(self, nb):
        """rnn: from the first to the last of n positions"""
        nb.expect("max_path_length", "rnn", ints(nb, 0, 5, 50))
        nb.expect("max_path_length", "rnn", 2)

    @pytest.mark.points(1)
    def test_self_attention(self, nb):
        """self_attention: short and long sequences"""
        nb.expect("max_path_length", "self_attention", ints(nb, 1, 2, 20))
        nb.expect("max_path_length", "self_attention", ints(nb, 2, 500, 5000))

    @pytest.mark.points(2)
    def test_cnn_default_kernel(self, nb):
        """cnn with the default kernel of 3: a stack of stride-1 convolutions"""
        nb.expect("max_path_length", "cnn", telling_length(nb, 3, 3, 8, 40))
        nb.expect("max_path_length", "cnn", telling_length(nb, 4, 3, 100, 1000))

    @pytest.mark.points(2)
    def test_cnn_other_kernels(self, nb):
        """cnn with kernels of 2, 4 and 5"""
        nb.expect("max_path_length", "cnn", telling_length(nb, 5, 5, 10, 60), kernel=5)
        nb.expect("max_path_length", "cnn", telling_length(nb, 6, 4, 10, 60), 4)
        nb.expect("max_path_length", "cnn", ints(nb, 7, 5, 30), kernel=2)


# ---- sequential_operations ----------------------------------------------------------------------

@pytest.mark.grades("sequential_operations")
class TestSequentialOperations:
    @pytest.mark.points(1)
    def test_rnn(self, nb):
        """rnn: a sequence of n positions"""
        nb.expect("sequential_operations", "rnn", ints(nb, 10, 2, 100))

    @pytest.mark.points(1)
    def test_cnn_and_self_attention(self, nb):
        """cnn and self_attention, short and long sequences"""
        for i, arch in enumerate(("cnn", "self_attention")):
            nb.expect("sequential_operations", arch, ints(nb, 11 + i, 2, 20))
            nb.expect("sequential_operations", arch, ints(nb, 13 + i, 500, 5000))


# ---- layer_flops --------------------------------------------------------------------------------

def n_and_d(nb, k, n_range, d_range):
    """A length n and a width d that differ (n = d would hide swapped formulas)."""
    rng = nb.rng(k)
    n, d = int(rng.integers(*n_range)), int(rng.integers(*d_range))
    return (n, d + 1) if n == d else (n, d)


@pytest.mark.grades("layer_flops")
class TestLayerFlops:
    @pytest.mark.points(1)
    def test_rnn(self, nb):
        """rnn: n steps of a d-dimensional state"""
        nb.expect("layer_flops", "rnn", *n_and_d(nb, 20, (5, 60), (8, 130)))

    @pytest.mark.points(1)
    def test_self_attention(self, nb):
        """self_attention: n positions of width d"""
        nb.expect("layer_flops", "self_attention", *n_and_d(nb, 21, (5, 60), (8, 130)))

    @pytest.mark.points(2)
    def test_cnn(self, nb):
        """cnn: the default kernel of 3, and a kernel of 5 to 9"""
        nb.expect("layer_flops", "cnn", *n_and_d(nb, 22, (5, 60), (8, 130)))
        nb.expect("layer_flops", "cnn", *n_and_d(nb, 23, (5, 60), (8, 130)), kernel=ints(nb, 24, 5, 10))

    @pytest.mark.points(1)
    def test_long_and_wide(self, nb):
        """each architecture at n in the thousands, d = 512 (exact integers)"""
        n = ints(nb, 25, 1000, 9000)
        for arch in ARCHS:
            nb.expect("layer_flops", arch, n, 512)


# ---- sinusoidal_positional_encoding -------------------------------------------------------------

def expect_pe(nb, T, d):
    return nb.expect("sinusoidal_positional_encoding", T, d, rtol=1e-5, atol=2e-5)


@pytest.mark.grades("sinusoidal_positional_encoding")
class TestSinusoidalPositionalEncoding:
    @pytest.mark.points(3)
    def test_small(self, nb):
        """a few positions, d = 8: the paper's formula, sin on even and cos on odd columns"""
        expect_pe(nb, ints(nb, 30, 5, 11), 8)

    @pytest.mark.points(2)
    def test_longer_and_wider(self, nb):
        """40 to 64 positions, d = 32 and d = 64"""
        expect_pe(nb, ints(nb, 31, 40, 65), 32)
        expect_pe(nb, ints(nb, 32, 20, 41), 64)

    @pytest.mark.points(1)
    def test_one_position(self, nb):
        """a single position (position 0), and two dimensions"""
        expect_pe(nb, 1, 2 * ints(nb, 33, 2, 9))
        expect_pe(nb, ints(nb, 34, 3, 9), 2)


# ---- build_sequence_model -----------------------------------------------------------------------

def model_params(nb, k, kind, learn):
    return dict(kind=kind, vocab_size=ints(nb, k, 8, 17), d_model=32, seed=nb.seed(k), batch=2,
                T=ints(nb, k + 100, 6, 13), learn=learn)


def check_model(nb, k, kind, rules, learn=False):
    params = model_params(nb, k, kind, learn)
    trace = nb.run("build_sequence_model", "sequence_model_trace", params)
    for rule in rules:
        problem = rule(trace)
        if problem:
            raise nb.fail(problem[0], f"build_sequence_model({kind!r}, vocab_size={params['vocab_size']}, "
                          f"d_model={params['d_model']}): {problem[1]}")


SHAPE = (shape_problem,)
CAUSAL = (shape_problem, causality_problem)
LEARNS = (shape_problem, learning_problem)


@pytest.mark.grades("build_sequence_model")
class TestBuildSequenceModel:
    @pytest.mark.points(1)
    def test_cnn_shape(self, nb):
        """cnn: token ids (B, T) to logits (B, T, vocab_size)"""
        check_model(nb, 40, "cnn", SHAPE)

    @pytest.mark.points(2)
    def test_cnn_causal(self, nb):
        """cnn: the output at t does not change when any token after t changes"""
        check_model(nb, 41, "cnn", CAUSAL)

    @pytest.mark.points(1)
    def test_cnn_learns(self, nb):
        """cnn: 25 Adam steps on a repeating sequence lower the loss"""
        check_model(nb, 42, "cnn", LEARNS, learn=True)

    @pytest.mark.points(1)
    def test_rnn_shape(self, nb):
        """rnn: token ids (B, T) to logits (B, T, vocab_size)"""
        check_model(nb, 43, "rnn", SHAPE)

    @pytest.mark.points(2)
    def test_rnn_causal(self, nb):
        """rnn: the output at t does not change when any token after t changes"""
        check_model(nb, 44, "rnn", CAUSAL)

    @pytest.mark.points(1)
    def test_rnn_learns(self, nb):
        """rnn: 25 Adam steps on a repeating sequence lower the loss"""
        check_model(nb, 45, "rnn", LEARNS, learn=True)

    @pytest.mark.points(1)
    def test_transformer_shape(self, nb):
        """transformer: token ids (B, T) to logits (B, T, vocab_size)"""
        check_model(nb, 46, "transformer", SHAPE)

    @pytest.mark.points(2)
    def test_transformer_causal(self, nb):
        """transformer: the output at t does not change when any token after t changes"""
        check_model(nb, 47, "transformer", CAUSAL)

    @pytest.mark.points(1)
    def test_transformer_learns(self, nb):
        """transformer: 25 Adam steps on a repeating sequence lower the loss"""
        check_model(nb, 48, "transformer", LEARNS, learn=True)
