"""q21_rapid_fire: the twenty answers of the drill and the misconceptions its checks can name.

Each misconception's explanation says in one or two sentences why the answer is wrong and what is
true; it is shown only to a student who gave that answer.
"""
from whiteboard.grading.labels import Labels

QUESTIONS = tuple(f"rf{i:02d}" for i in range(1, 21))

LABELS = Labels(
    functions=QUESTIONS,
    catalogue={
        "softmax-on-single-logit": (
            "softmax over a single output unit is always exactly 1, whatever the logit, so it cannot "
            "express a probability.",
            "One unit needs the sigmoid, which maps its logit to a probability in (0, 1); softmax is for "
            "two or more mutually exclusive classes."),
        "sigmoid-grad-max-is-one": (
            "the sigmoid's derivative is s(x) (1 - s(x)), which peaks at x = 0 where s = 0.5: 0.5 * 0.5.",
            "Its largest value is 0.25, so every sigmoid layer shrinks the gradient by at least four: "
            "the root of the vanishing gradient."),
        "sigmoid-output-for-grad": (
            "0.5 is the sigmoid's output at x = 0, not its slope there.",
            "The slope is s(x) (1 - s(x)) = 0.5 * 0.5 = 0.25 at x = 0, its maximum."),
        "learned-scale-as-hyperparameter": (
            "batch norm's gamma is learned by gradient descent like a weight, so it is a parameter.",
            "Hyperparameters are chosen before training (learning rate, batch size, dropout rate, depth)."),
        "weights-as-hyperparameters": (
            "weights and biases are what training learns: they are the model's parameters.",
            "Hyperparameters are the settings you choose that control how those parameters are learned."),
        "embedding-has-bias": (
            "nn.Embedding is a lookup table, one row per token: it has no bias.",
            "10000 rows of 300 numbers: 3,000,000 parameters."),
        "bias-free-output-depends-on-w": (
            "without a bias, every output of x @ W is a sum of zeros when x is all zeros, whatever W holds.",
            "The output is relu(0) = 0: this is why layers have a bias, to shift the activation."),
        "iteration-is-example": (
            "an iteration (one optimizer step) processes one mini-batch, not one example.",
            "10,000 examples in batches of 100 make 100 iterations per epoch."),
        "iteration-is-epoch": (
            "an epoch is one pass over all the data, made of many iterations (one per mini-batch).",
            "10,000 / 100 = 100 optimizer steps per epoch."),
        "fine-tune-early-layers-first": (
            "the first layers of a pretrained network hold general features (edges, textures) that transfer "
            "well; with little data, retraining them overfits and destroys them.",
            "Freeze the backbone and train the new head first; unfreeze later layers only with more data."),
        "scaling-inverted": (
            "the linear scaling rule scales the learning rate with the batch size, in the same direction.",
            "Twice the batch size, twice the learning rate: 0.1 * 512 / 256 = 0.2."),
        "sqrt-scaling": (
            "square-root scaling is a rule sometimes used for adaptive optimizers, not the linear scaling rule "
            "asked for.",
            "The linear rule multiplies the learning rate by the batch-size ratio: 0.1 * 2 = 0.2."),
        "discriminative-as-generative": (
            "logistic regression and SVMs model the decision boundary p(y | x) only: they are discriminative.",
            "Generative models describe how the data itself is distributed (p(x) or p(x, y)) and can sample "
            "it: GANs, VAEs, GPT, naive Bayes."),
        "missing-sqrt-dk-scaling": (
            "the scores were not divided by sqrt(d_k) before the softmax.",
            "softmax([1, 0] / sqrt(2)) = [0.6698, 0.3302]; unscaled scores grow with d_k and saturate the softmax."),
        "gradient-ascent": (
            "the step went up the gradient: w + lr * g climbs the loss.",
            "Gradient descent subtracts: w - lr * g = 2.0 - 0.1 * 0.5 = 1.95."),
        "mse-for-classification": (
            "squared error on class probabilities gives vanishing gradients through a saturated softmax or "
            "sigmoid and is not the likelihood of a categorical label.",
            "Cross-entropy for multi-class, binary cross-entropy for binary, MSE for regression."),
        "uat-implies-learnability": (
            "the theorem says a network that approximates the function exists; it says nothing about gradient "
            "descent finding it.",
            "Existence only: training may still fail, and the width needed may be astronomical."),
        "uat-gives-width": (
            "the theorem gives no bound on how many hidden units are needed.",
            "It guarantees existence only; the required width can grow exponentially with the input dimension."),
        "leakage-stats-from-all-data": (
            "fitting the scaler before the split lets statistics of the validation and test data into training.",
            "Split first, fit the scaler on the training split only, then transform every split with it."),
        "receptive-field-adds-kernels": (
            "receptive fields do not add kernel sizes: each extra 3x3 layer widens the view by 2 pixels, not 3.",
            "Two stacked 3x3 convolutions see 5x5 (3 + 3 - 1), with 18 weights against 25 for one 5x5."),
        "overfitting-underfitting-swapped": (
            "a tiny training loss with a large validation loss is the signature of memorising the training set.",
            "That is overfitting; underfitting shows a high training loss too."),
        "divided-by-variance": (
            "standardizing divides by the standard deviation, not the variance.",
            "(7 - 5) / 2 = 1.0."),
        "layernorm-changes-in-eval": (
            "layer norm normalises each example with its own statistics and keeps no running averages, so it "
            "behaves the same in train and eval mode.",
            "eval() changes dropout (off) and batch norm (running statistics instead of the batch's)."),
        "eval-confused-with-no-grad": (
            "model.eval() and torch.no_grad() do different jobs and are not interchangeable.",
            "eval() switches dropout and batch norm to inference behaviour (deterministic dropout); no_grad() "
            "stops recording the graph (saves activation memory)."),
        "softmax-before-cross-entropy": (
            "nn.CrossEntropyLoss applies log_softmax itself: feeding it probabilities softmaxes twice.",
            "Give it the raw logits."),
        "log-softmax-before-cross-entropy": (
            "log-probabilities are what nn.NLLLoss takes; nn.CrossEntropyLoss would apply log_softmax again.",
            "Give nn.CrossEntropyLoss the raw logits (it is log_softmax + NLLLoss)."),
    },
    uses=("wrong-type",),
    values=True,
)
