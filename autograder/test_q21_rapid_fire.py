"""Checks for q21_rapid_fire: each rfNN the notebook sets is an answer, graded by the catalogue's rule.

The answers are compared with salted digests from the oracle (whiteboard.grading.answers), so this
module and a student kit hold no answer. The allowed values below are the ones the notebook lists.
A drill has no inputs to vary: every check is public only.
"""
import pytest

HYPER = ("weights", "biases", "learning rate", "batch size", "dropout rate", "number of layers",
         "batchnorm gamma")
MODELS = ("gan", "vae", "gpt", "naive bayes", "logistic regression", "svm")
LAYERS = ("linear", "conv2d", "dropout", "batchnorm2d", "layernorm", "relu")
STEPS = ("fit scaler", "split", "transform splits", "train")
TASKS, LOSSES = ("multi-class", "binary", "regression"), ("cross-entropy", "binary cross-entropy", "mse")

pytestmark = pytest.mark.public_only

@pytest.mark.grades("rf01")
class TestRf01:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """final activation for one output unit"""
        nb.expect_answer("rf01", "choice", ("sigmoid", "softmax", "relu", "tanh"))

@pytest.mark.grades("rf02")
class TestRf02:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """the sigmoid's largest slope"""
        nb.expect_answer("rf02", "number", ())

@pytest.mark.grades("rf03")
class TestRf03:
    @pytest.mark.points(2)
    def test_answer(self, nb):
        """the hyperparameters"""
        nb.expect_answer("rf03", "set", HYPER)

@pytest.mark.grades("rf04")
class TestRf04:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """parameters of nn.Embedding(10000, 300)"""
        nb.expect_answer("rf04", "count", ())

@pytest.mark.grades("rf05")
class TestRf05:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """a bias-free layer on an all-zero input"""
        nb.expect_answer("rf05", "choice", ("zero", "depends on W", "undefined"))

@pytest.mark.grades("rf06")
class TestRf06:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """optimizer steps per epoch"""
        nb.expect_answer("rf06", "count", ())

@pytest.mark.grades("rf07")
class TestRf07:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """what to fine-tune first"""
        nb.expect_answer("rf07", "choice", ("head", "first layers", "all layers"))

@pytest.mark.grades("rf08")
class TestRf08:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """the linearly scaled learning rate"""
        nb.expect_answer("rf08", "number", ())

@pytest.mark.grades("rf09")
class TestRf09:
    @pytest.mark.points(2)
    def test_answer(self, nb):
        """the generative models"""
        nb.expect_answer("rf09", "set", MODELS)

@pytest.mark.grades("rf10")
class TestRf10:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """attention weights with d_k = 2"""
        nb.expect_answer("rf10", "numbers", (0, 0))

@pytest.mark.grades("rf11")
class TestRf11:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """one gradient-descent step"""
        nb.expect_answer("rf11", "number", ())

@pytest.mark.grades("rf12")
class TestRf12:
    @pytest.mark.points(2)
    def test_answer(self, nb):
        """a loss for each task"""
        nb.expect_answer("rf12", "mapping", (TASKS, LOSSES))

@pytest.mark.grades("rf13")
class TestRf13:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """what the universal approximation theorem gives"""
        nb.expect_answer("rf13", "choice", ("existence", "learnability by gradient descent", "a bound on the width"))

@pytest.mark.grades("rf14")
class TestRf14:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """the leakage-free order"""
        nb.expect_answer("rf14", "order", STEPS)

@pytest.mark.grades("rf15")
class TestRf15:
    @pytest.mark.points(2)
    def test_answer(self, nb):
        """receptive field and weights of stacked 3x3 convs"""
        nb.expect_answer("rf15", "counts", (0, 0, 0))

@pytest.mark.grades("rf16")
class TestRf16:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """train 0.05, validation 1.9"""
        nb.expect_answer("rf16", "choice", ("overfitting", "underfitting", "good fit"))

@pytest.mark.grades("rf17")
class TestRf17:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """a standardized value"""
        nb.expect_answer("rf17", "number", ())

@pytest.mark.grades("rf18")
class TestRf18:
    @pytest.mark.points(2)
    def test_answer(self, nb):
        """the layers eval() changes"""
        nb.expect_answer("rf18", "set", LAYERS)

@pytest.mark.grades("rf19")
class TestRf19:
    @pytest.mark.points(2)
    def test_answer(self, nb):
        """eval vs no_grad"""
        nb.expect_answer("rf19", "mapping", (("deterministic dropout", "saves activation memory"), ("eval", "no_grad")))

@pytest.mark.grades("rf20")
class TestRf20:
    @pytest.mark.points(1)
    def test_answer(self, nb):
        """what nn.CrossEntropyLoss takes"""
        nb.expect_answer("rf20", "choice", ("logits", "probabilities", "log-probabilities"))
