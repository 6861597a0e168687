"""q14_lstm: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("lstm_cell", "lstm_forward", "gate_activations", "init_forget_bias"),
    catalogue={
        "gate-order": (
            "the four gates were read from the wrong slices of the stacked pre-activations. PyTorch "
            "stacks them as input, forget, cell candidate, output (i, f, g, o), each of size H; other "
            "libraries use other orders (TensorFlow's old LSTMCell: i, g, f, o).",
            "Split gates = x @ W_ih.T + b_ih + h @ W_hh.T + b_hh with i, f, g, o = gates.chunk(4, dim=-1): "
            "rows 0:H input, H:2H forget, 2H:3H candidate, 3H:4H output."),
        "candidate-sigmoid": (
            "the cell candidate g went through a sigmoid, so it lies in (0, 1) and the cell can only "
            "ever be pushed upwards; g is the new content and uses tanh, with values in (-1, 1).",
            "Use torch.tanh for g; sigmoid is for the three gates i, f and o, which act as soft switches "
            "between 0 and 1."),
        "gates-tanh": (
            "the gates i, f and o went through tanh, so they range over (-1, 1): a negative 'gate' flips "
            "the sign of what it should only let through or block.",
            "Use torch.sigmoid for i, f and o (values in (0, 1)) and tanh only for the candidate g and "
            "for the cell state on its way to h."),
        "h-without-tanh": (
            "the new hidden state was o * c_new, without squashing the cell state: the cell state is "
            "unbounded, so h is too.",
            "Use h_new = o * torch.tanh(c_new)."),
        "cell-missing-input-gate": (
            "the candidate was added to the cell without the input gate (c_new = f * c + g), so the cell "
            "cannot choose to ignore an input: everything is written in.",
            "Gate the candidate: c_new = f * c + i * g."),
        "wrong-gate-slice": (
            "the bias slice set was not the forget gate's. nn.LSTM stacks the biases as input, forget, "
            "cell, output gates (H each), so the forget gate is the second quarter.",
            "For every layer (and direction) set both bias_ih_l{k}[H:2*H] and bias_hh_l{k}[H:2*H] under "
            "torch.no_grad(), with H = lstm.hidden_size."),
    },
    uses=("forbidden-api",),   # nn.LSTM, nn.LSTMCell and torch.lstm* in the first three functions
    extra={
        "gates-before-activation": (
            "the gates were returned before their nonlinearities: raw pre-activations, not the values "
            "between 0 and 1 (and -1 and 1 for g) that the cell uses.",
            "Return sigmoid(i), sigmoid(f), tanh(g) and sigmoid(o)."),
        "state-not-carried": (
            "every step started again from h0 and c0: the state computed at one step was not passed on "
            "to the next, so there is no recurrence.",
            "Inside the loop write h, c = lstm_cell(x[t], h, c, ...) so that each step gets the previous "
            "step's state."),
        "first-layer-only": (
            "only the first layer's forget-gate biases were set; a multi-layer nn.LSTM has bias_ih_l{k} "
            "and bias_hh_l{k} for every layer k.",
            "Loop over every bias parameter: for name, p in lstm.named_parameters(): if 'bias' in name: "
            "p[H:2*H] = value (under torch.no_grad())."),
        "one-bias-vector": (
            "only one of the two bias vectors of a layer was set: nn.LSTM adds bias_ih and bias_hh, and "
            "the exercise sets the forget slice of both.",
            "Set the forget slice of bias_ih_l{k} and of bias_hh_l{k}."),
    },
)

# torch's own LSTM would do the work: the first three functions must do without it (a class of the
# student's own that happens to be called LSTMCell is not torch's and is allowed). A check of any of
# them that uses one fails with `forbidden-api`. Public on purpose: the notebook says the same in words.
TORCH_LSTM = ("torch.nn.LSTM", "torch.nn.LSTMCell", "torch.nn.modules.rnn.LSTM",
              "torch.nn.modules.rnn.LSTMCell", "torch.lstm", "torch.lstm_cell", "torch._VF.lstm",
              "torch._VF.lstm_cell")
FORBIDDEN = {"lstm_cell": TORCH_LSTM, "lstm_forward": TORCH_LSTM, "gate_activations": TORCH_LSTM}
