"""Checks for q13_rnn_vanishing. Inputs come from nb.rng / nb.seed (public and hidden runs).

rnn_forward, hidden_grad_norms and clip_grad_norm take tensors: nb.expect compares them with the
references, which are torch's own computations (nn.RNN holding the weights; autograd;
torch.nn.utils.clip_grad_norm_ on copies), and names the pitfall whose variant reproduces a wrong
answer. The recurrent weights are drawn with a chosen spectral radius, so that each check sits
where it means to: a contracting recurrence (vanishing), one near 1, an expanding one.

train_truncated_bptt takes a model, an optimizer and a loss: its checks run the harness
`tbptt_trace` (harnesses/q13_rnn_vanishing.py), whose instrumented model records the state each
chunk receives (attached to a graph or not, equal to the state the previous chunk returned) and
whose optimizer records each step. Rules on those events (autograder/labels/q13_rnn_vanishing.py)
name the mistakes; then the losses, the steps and the final weights are compared with the same
harness run on the reference.
"""
import numpy as np
import pytest
import torch

from autograder.labels.q13_rnn_vanishing import tbptt_problem
from whiteboard.grading.compare import as_numpy, is_array, mismatch, show


def recurrent_inputs(nb, k, T, B, D, H, radius):
    """x (T, B, D), h0 (B, H), W_xh (D, H), W_hh (H, H) with spectral radius `radius`, b_h (H,):
    float64 tensors."""
    rng = nb.rng(k)
    W_hh = rng.normal(size=(H, H))
    W_hh *= radius / np.abs(np.linalg.eigvals(W_hh)).max()
    arrays = (rng.normal(size=(T, B, D)), 0.5 * rng.normal(size=(B, H)), 0.5 * rng.normal(size=(D, H)),
              W_hh, 0.1 * rng.normal(size=H))
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in arrays)


# ---- rnn_forward ----------------------------------------------------------------------------------

@pytest.mark.grades("rnn_forward")
class TestRnnForward:
    @pytest.mark.points(2)
    def test_matches_nn_rnn(self, nb):
        """6 steps, batch of 3: every hidden state, as nn.RNN(nonlinearity='tanh') gives them"""
        nb.expect("rnn_forward", *recurrent_inputs(nb, 0, 6, 3, 4, 5, radius=1.2))

    @pytest.mark.points(1)
    def test_one_step_batch_of_one(self, nb):
        """one time step and one sequence: shape (1, 1, H)"""
        nb.expect("rnn_forward", *recurrent_inputs(nb, 1, 1, 1, 3, 4, radius=0.8))

    @pytest.mark.points(1)
    def test_long_sequence_stays_bounded(self, nb):
        """25 steps with large recurrent weights: the states stay in (-1, 1)"""
        nb.expect("rnn_forward", *recurrent_inputs(nb, 2, 25, 2, 3, 6, radius=1.8))


# ---- hidden_grad_norms ----------------------------------------------------------------------------

@pytest.mark.grades("hidden_grad_norms")
class TestHiddenGradNorms:
    @pytest.mark.points(3)
    def test_matches_autograd(self, nb):
        """||dL/dh_t|| for t = 0..T-1, L = hs[-1].sum(), 8 steps"""
        nb.expect("hidden_grad_norms", *recurrent_inputs(nb, 10, 8, 2, 3, 5, radius=0.9),
                  rtol=1e-5, atol=1e-12)

    @pytest.mark.points(2)
    def test_vanishing(self, nb):
        """a contracting recurrence (spectral radius 0.5), 20 steps: the early norms are tiny"""
        nb.expect("hidden_grad_norms", *recurrent_inputs(nb, 11, 20, 3, 4, 8, radius=0.5),
                  rtol=1e-5, atol=1e-14)

    @pytest.mark.points(1)
    def test_expanding_recurrence(self, nb):
        """spectral radius 1.5, 15 steps, batch of one"""
        nb.expect("hidden_grad_norms", *recurrent_inputs(nb, 12, 15, 1, 4, 8, radius=1.5),
                  rtol=1e-5, atol=1e-14)


# ---- clip_grad_norm -------------------------------------------------------------------------------

def gradients(nb, k, shapes, scales, dtype=np.float64):
    rng = nb.rng(k)
    return [torch.from_numpy((s * rng.normal(size=shape)).astype(dtype)) for shape, s in zip(shapes, scales)]


def above_threshold(nb, k):
    """Two gradients whose global norm is 2 to 5 times max_norm; the larger one alone is above
    max_norm and the smaller one below it, and some entries are larger than max_norm."""
    grads = gradients(nb, k, [(4, 3), (5,)], [3.0, 0.2])
    norms = [float(torch.linalg.vector_norm(g)) for g in grads]
    max_norm = float(np.round(max(norms) / nb.rng(k + 100).uniform(2.0, 5.0), 3))
    max_norm = max(max_norm, 1.5 * norms[1])
    return grads, max_norm


def scalar(value):
    """A total norm as a float (a masked variant's norm stays masked). The engine's codec carries a
    0-dim tensor as shape (1,), so the student's and the reference's 0-dim norms are compared as
    numbers, which is what the catalogue asks ("a float or 0-dim tensor")."""
    if isinstance(value, np.ma.MaskedArray):
        return np.ma.masked_array(float(np.asarray(value.data).reshape(-1)[0]),
                                  mask=bool(np.ma.getmaskarray(value).reshape(-1)[0]))
    if is_array(value) and as_numpy(value).size == 1:
        return float(as_numpy(value).reshape(-1)[0])
    return value


def clip_result(value):
    """(the clipped tensors as a list, the total norm as a number)."""
    clipped, total = value
    return list(clipped), scalar(total)


def unmasked(total):
    return float(total.data) if isinstance(total, np.ma.MaskedArray) else total


def expect_clip(nb, grads, max_norm, norm_only=False, **tolerance):
    """norm_only compares the norms alone: there a variant whose clipping is wrong has the right
    norm (its mask, which lets it name a wrong clipping beside any norm, is dropped), so it never
    names a student's wrong norm."""
    pick = (lambda v: unmasked(clip_result(v)[1])) if norm_only else clip_result
    return nb.expect("clip_grad_norm", grads, max_norm, output=pick, **tolerance)


@pytest.mark.grades("clip_grad_norm")
class TestClipGradNorm:
    @pytest.mark.points(2)
    def test_above_threshold(self, nb):
        """a global norm above max_norm: every tensor scaled by the same factor, as torch"""
        grads, max_norm = above_threshold(nb, 20)
        expect_clip(nb, grads, max_norm, rtol=1e-5)

    @pytest.mark.points(2)
    def test_below_threshold(self, nb):
        """a global norm below max_norm: the gradients come back unchanged"""
        grads = gradients(nb, 21, [(3, 2), (2,), (4,)], [1.0, 0.5, 0.8])
        total = float(torch.sqrt(sum((g ** 2).sum() for g in grads)))
        expect_clip(nb, grads, float(np.round(total * nb.rng(121).uniform(1.5, 3.0), 3)), rtol=1e-5)

    @pytest.mark.points(1)
    def test_returns_norm_before_clipping(self, nb):
        """total_norm is the global norm measured before clipping"""
        grads, max_norm = above_threshold(nb, 22)
        expect_clip(nb, grads, max_norm, norm_only=True, rtol=1e-5)

    @pytest.mark.points(1)
    def test_float32_many_tensors(self, nb):
        """four float32 tensors of different shapes, one entry far larger than the others"""
        grads = gradients(nb, 23, [(6,), (2, 3), (3, 1, 2), (1,)], [0.5, 1.0, 0.3, 8.0], np.float32)
        expect_clip(nb, grads, float(np.round(nb.rng(123).uniform(1.0, 3.0), 2)))


# ---- train_truncated_bptt -------------------------------------------------------------------------

def check_tbptt(nb, state, n_chunks, k):
    params = dict(state=state, n_chunks=n_chunks, seed=nb.seed(k))
    desc = (f"train_truncated_bptt on {n_chunks} chunks with a recurrent model whose state is "
            f"{'a tensor h (a GRU)' if state == 'tensor' else 'a tuple (h, c) (an LSTM)'}")
    got = nb.run("train_truncated_bptt", "tbptt_trace", params)
    problem = tbptt_problem(got, desc)
    if problem:
        raise nb.fail(*problem)
    want = nb.trace("tbptt_trace", params, "train_truncated_bptt")
    losses = mismatch(got["returned"], want["returned"], rtol=1e-5, atol=1e-7)
    if losses:
        raise nb.fail("wrong-value", f"{desc} returned the losses {show(got['returned'])}, expected "
                      f"{show(want['returned'])} ({losses[1]}): the loss of each chunk, computed "
                      "by loss_fn on that chunk's logits before its optimizer step.")
    got_steps = [e[1] for e in got["events"] if e[0] == "step"]
    want_steps = [e[1] for e in want["events"] if e[0] == "step"]
    steps = mismatch(got_steps, want_steps, rtol=1e-4, atol=1e-7)
    if steps:
        raise nb.fail("wrong-value", f"{desc}: the gradient norms at the optimizer steps were "
                      f"{show(got_steps)}, expected {show(want_steps)}: each step must see exactly "
                      "the gradient of its own chunk's loss (zero the gradients before each "
                      "backward pass, do not clip, do not scale the loss).")
    for i, (g, w) in enumerate(zip(got["weights"], want["weights"])):
        problem = mismatch(g, w, rtol=1e-4, atol=1e-6)
        if problem:
            raise nb.fail(problem[0], f"{desc}: after training, parameter {i} differs from what one "
                          f"plain optimizer step per chunk gives ({problem[1]}).")


@pytest.mark.grades("train_truncated_bptt")
class TestTrainTruncatedBptt:
    @pytest.mark.points(3)
    def test_detaches_between_chunks(self, nb):
        """the state enters each chunk detached: one backward never runs into the previous chunk"""
        check_tbptt(nb, "tensor", 4, 0)

    @pytest.mark.points(2)
    def test_lstm_tuple_state(self, nb):
        """an LSTM's (h, c): both carried, both detached"""
        check_tbptt(nb, "tuple", 3, 1)

    @pytest.mark.points(1)
    def test_carries_state(self, nb):
        """each chunk starts from the state the previous chunk ended with"""
        check_tbptt(nb, "tensor", 3, 2)

    @pytest.mark.points(1)
    def test_one_step_per_chunk_and_float_losses(self, nb):
        """one optimizer step per chunk; the loss of each chunk as a float"""
        check_tbptt(nb, "tuple", 5, 3)
