"""q18_transformer_block: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("layer_norm", "TransformerBlock", "padding_mask", "encoder_attention_mask",
               "decoder_attention_mask", "gpt_param_count", "greedy_decode"),
    catalogue={
        # -- layer_norm -------------------------------------------------------------------------
        "normalizes-over-batch": (
            "the mean and variance were taken over dim 0, the batch, as batch norm does, so each "
            "feature is normalised across examples instead of each example across its features.",
            "Reduce over the last dimension only: x.mean(dim=-1, keepdim=True), and the same for "
            "the variance."),
        "unbiased-variance": (
            "the variance divides by d - 1 (torch's .var() and .std() do that by default); layer "
            "norm uses the biased variance, which divides by d.",
            "Use x.var(dim=-1, unbiased=False, keepdim=True) (or correction=0), or compute "
            "((x - mean) ** 2).mean(dim=-1, keepdim=True)."),
        "eps-outside-sqrt": (
            "eps was added to the standard deviation instead of to the variance. Both keep the "
            "division finite, but they differ whenever a row's spread is small or eps is large.",
            "Divide by torch.sqrt(var + eps), with eps inside the square root."),
        # -- TransformerBlock -------------------------------------------------------------------
        "missing-residual": (
            "a residual connection is missing: the output of the attention or feed-forward "
            "sub-layer replaces x instead of being added to it, so the block cannot pass its input "
            "through and deep stacks become hard to train.",
            "Add each sub-layer's output to its input: x = x + attn(...) and x = x + ff(...) in "
            "pre-norm; ln1(x + attn(x)) and ln2(x + ff(x)) in post-norm."),
        "post-norm-for-pre-norm": (
            "with pre_norm=True the block normalised after the residual addition (the original "
            "post-norm Transformer) instead of normalising the input of each sub-layer.",
            "When pre_norm is True use x = x + attn(ln1(x)) then x = x + ff(ln2(x)); keep "
            "ln1(x + attn(x)) for pre_norm=False only."),
        "mask-inverted": (
            "the mask was passed the wrong way round. Here True means 'may attend', but a boolean "
            "attn_mask of nn.MultiheadAttention means 'may NOT attend', so each query attended "
            "exactly to the keys it should have ignored.",
            "Invert it when you call the module: self.attn(h, h, h, attn_mask=~mask)."),
        "ffn-activation-wrong": (
            "the feed-forward network does not use the exact GELU between its two linear layers "
            "(ReLU, or GELU's tanh approximation, was used instead).",
            "Build ff as nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), "
            "nn.Linear(d_ff, d_model)); nn.GELU() with its default approximate='none'."),
        # -- encoder / decoder masks ------------------------------------------------------------
        "encoder-mask-causal": (
            "the encoder's mask also blocks future positions. A BERT-style encoder reads the "
            "whole sentence in both directions: only padding keys are hidden.",
            "Make entry [b, 0, q, k] depend on the key only: k < lengths[b], the same for every "
            "query q."),
        "decoder-mask-not-causal": (
            "the decoder's mask lets a query see keys after it, so a GPT-style model trained with "
            "it can read the token it is supposed to predict.",
            "Combine the padding condition with the causal one: (k < lengths[b]) & (k <= q), e.g. "
            "with torch.tril."),
        "padding-ignored": (
            "the mask does not depend on the lengths, so padding tokens are attended to as if "
            "they were real words.",
            "Build the key condition k < lengths[b] (padding_mask(lengths, T)) and combine it with "
            "the rest of the mask, broadcast to (B, 1, T, T)."),
        # -- gpt_param_count --------------------------------------------------------------------
        "forgot-biases": (
            "the biases were left out: the attention projections (3 * d_model in in_proj_bias and "
            "d_model in out_proj) and the two feed-forward layers (d_ff and d_model) all have one.",
            "Count every nn.Linear as in_features * out_features + out_features unless it is "
            "built with bias=False (only the LM head is)."),
        "forgot-layernorm": (
            "the LayerNorms were not counted. Each block has two, the model ends with a final one, "
            "and each holds a weight and a bias of size d_model.",
            "Add 2 * (2 * d_model) per block and 2 * d_model for the final LayerNorm."),
        "head-counted-when-tied": (
            "the LM head was counted although it is tied to the token embedding: it reuses the "
            "same (vocab_size, d_model) matrix, so it adds no parameters.",
            "Add vocab_size * d_model for the head only when tied_embeddings is False."),
        "params-scale-with-heads": (
            "the count changes with n_heads. Splitting d_model into more heads makes each head "
            "smaller (d_model / n_heads), so the projections stay d_model x d_model in total.",
            "Count the attention as four d_model x d_model projections with biases, whatever "
            "n_heads is: 4 * d_model**2 + 4 * d_model."),
        # -- greedy_decode ----------------------------------------------------------------------
        "decodes-from-first-position": (
            "the next token was read from the logits of the first position (logits[:, 0]), which "
            "only ever sees the first token of the prompt.",
            "Take the prediction for the next token from the last position: "
            "logits[:, -1, :].argmax(dim=-1)."),
        "missing-eval-mode": (
            "the model was run in training mode, so dropout and similar layers stay active and the "
            "decoded tokens are not the model's real predictions.",
            "Call model.eval() before the decoding loop."),
        "missing-no-grad": (
            "the forward passes ran with autograd on, so every step builds a graph nobody will "
            "use, which costs memory and time for nothing.",
            "Wrap the loop in `with torch.no_grad():` (or torch.inference_mode())."),
    },
    uses=("forbidden-api",),
    extra={
        "mask-ignored": (
            "the mask was never passed to the attention, so every query attended to every key.",
            "Pass it on: self.attn(h, h, h, attn_mask=None if mask is None else ~mask)."),
        "pre-norm-for-post-norm": (
            "with pre_norm=False the block still normalised the inputs of the sub-layers "
            "(pre-norm) instead of the sums after each residual addition.",
            "When pre_norm is False use x = ln1(x + attn(x)) then x = ln2(x + ff(x))."),
        "submodules-misnamed": (
            "the block's parameters are not named ln1.*, attn.*, ln2.*, ff.0.* and ff.2.* (or "
            "there are more or fewer of them), so the test weights cannot be loaded into it.",
            "Create exactly self.ln1, self.attn, self.ln2 and self.ff as described, with no other "
            "parameters or persistent buffers."),
        "padding-mask-inverted": (
            "the mask is True at the padding positions. That is the key_padding_mask convention "
            "of nn.MultiheadAttention; here True marks the real tokens.",
            "Return position < length, i.e. torch.arange(T) < lengths[:, None]."),
        "padding-on-query-axis": (
            "the padding condition was put on the queries (rows) instead of the keys (columns), so "
            "real tokens still attend to the padding.",
            "Entry [b, 0, q, k] tests the key: k < lengths[b]. Broadcast the padding mask as "
            "pad[:, None, None, :]."),
        "padded-queries-masked": (
            "the rows of padded queries were blocked entirely; a row with no allowed key makes "
            "the softmax divide 0 by 0 (NaN). The padded rows should keep the same key mask as the "
            "real ones, and their outputs are ignored later.",
            "Use only the key condition, k < lengths[b], for every query, padded ones included."),
        "forgot-position-embedding": (
            "the learned position embedding (max_len x d_model) was not counted.",
            "Add max_len * d_model."),
    },
)


# What layer_norm must be written without (its checks pass it to the worker's tripwires).
FORBIDDEN = {"layer_norm": ("torch.nn.functional.layer_norm", "torch.layer_norm",
                            "torch.nn.LayerNorm", "torch.native_layer_norm")}
