"""q19_efficient_training: the functions a student writes and the mistakes its checks can name."""
from whiteboard.grading.labels import Labels

LABELS = Labels(
    functions=("train_with_accumulation", "LoRALinear", "lora_param_count", "DynamicLossScaler",
               "training_memory_bytes"),
    catalogue={
        # -- train_with_accumulation ------------------------------------------------------------
        "loss-not-scaled": (
            "each micro-batch's loss was back-propagated as it is, so the accumulated gradient is "
            "the sum over the group's micro-batches, not their mean: the step is as many times too "
            "large as there are micro-batches in the group.",
            "Divide each micro-batch's loss by the number of micro-batches in its group before "
            "calling backward(): (loss / n_in_group).backward()."),
        "step-every-micro-batch": (
            "optimizer.step() ran after every micro-batch instead of once per group, so the model "
            "moved several times per group with partial gradients.",
            "Call optimizer.step() once, after the last micro-batch of each group."),
        "zero-grad-every-micro-batch": (
            "the gradients were zeroed before every micro-batch, so each step saw only the last "
            "micro-batch's gradient: nothing was accumulated.",
            "Zero the gradients once per group, before its first backward() (or right after each "
            "step)."),
        "leftover-dropped": (
            "when the number of micro-batches is not a multiple of accum_steps, the last, smaller "
            "group never produced a step (or was skipped), so its data was not learned from.",
            "Step after the last micro-batch too, even if its group is short, and divide its "
            "losses by the size of that group."),
        # -- LoRALinear -------------------------------------------------------------------------
        "lora-b-not-zero": (
            "lora_B does not start at zero, so the adapted layer differs from the pretrained one "
            "before any training and fine-tuning starts from a damaged model.",
            "Initialise lora_B with zeros (out_features, r) and only lora_A randomly: the update "
            "lora_B @ lora_A is then exactly zero at the start."),
        "base-not-frozen": (
            "the weight or bias of the base layer still requires gradients, so fine-tuning would "
            "update the full matrix and LoRA saves nothing.",
            "Freeze the base in place: for p in self.base.parameters(): p.requires_grad_(False)."),
        "lora-scale-wrong": (
            "the low-rank update was not scaled by alpha / r (no scaling, alpha alone, r / alpha "
            "or alpha / sqrt(r) were used), so its size depends on r in the wrong way.",
            "Multiply the update by self.alpha / self.r, in forward and in merged()."),
        "merge-transposed": (
            "the merged weight adds the update transposed, (lora_B @ lora_A).T or "
            "lora_A.T @ lora_B.T. nn.Linear stores its weight as (out_features, in_features), the "
            "shape of lora_B @ lora_A.",
            "Merge with base.weight + (alpha / r) * lora_B @ lora_A, no transpose."),
        # -- DynamicLossScaler ------------------------------------------------------------------
        "steps-on-overflow": (
            "the optimizer stepped although a gradient was inf or NaN, which writes inf or NaN "
            "into the weights and ruins the model.",
            "Check every unscaled gradient with torch.isfinite; if any is not finite skip "
            "optimizer.step(), back off the scale and return False."),
        "grads-not-unscaled": (
            "the optimizer stepped with the scaled gradients: they are `scale` times too large, so "
            "the update is too (65536 times at the default scale).",
            "Divide every parameter's .grad by the current scale (in place) before checking it and "
            "stepping."),
        "scale-not-backed-off": (
            "after an overflow the scale was left as it was, so the next step overflows again and "
            "training never resumes.",
            "On an overflow multiply the scale by backoff_factor and restart the count of good "
            "steps."),
        "grows-every-step": (
            "the scale grew after every good step instead of after growth_interval good steps in a "
            "row, so it soon overflows again and many steps are skipped.",
            "Count the good steps; when the count reaches growth_interval multiply the scale by "
            "growth_factor and reset the count to 0."),
        # -- training_memory_bytes --------------------------------------------------------------
        "forgot-master-weights": (
            "mixed precision keeps a 4-byte fp32 master copy of every weight (the optimizer "
            "updates it; the 2-byte weights are a copy for the forward pass) and it was not "
            "counted.",
            "Add 4 * n_params bytes for the master weights when mixed_precision is True."),
        "forgot-gradients": (
            "the gradients were not counted: every parameter has one, as large as the weight (4 "
            "bytes in fp32, 2 bytes under mixed precision).",
            "Add n_params * (2 if mixed_precision else 4) bytes for the gradients."),
    },
    extra={
        "leftover-scaled-by-accum-steps": (
            "the last, shorter group's losses were divided by accum_steps rather than by the "
            "number of micro-batches it has, so its step is too small (and its reported loss too).",
            "Divide by len(group), the number of micro-batches in the current group."),
        "merge-modifies-base": (
            "merged() changed the base layer (or returned it) instead of building a new layer, so "
            "the adapter now adds the update twice.",
            "Create a new nn.Linear and copy the merged weight and the bias into it under "
            "torch.no_grad(); leave self.base untouched."),
        "lora-a-zero": (
            "lora_A starts at zero as well as lora_B. Then the gradients of both are zero and the "
            "adapter never learns.",
            "Initialise lora_A randomly (e.g. nn.init.kaiming_uniform_ or a small normal) and "
            "lora_B with zeros."),
        "lora-count-includes-base": (
            "the count includes the frozen base layer; LoRA trains only lora_A and lora_B.",
            "Count r * in_features + out_features * r."),
        "good-steps-not-reset": (
            "the count of good steps was not restarted after an overflow, so the scale grows "
            "again sooner than growth_interval good steps in a row.",
            "Set the count of good steps back to 0 whenever a step is skipped."),
        "optimizer-state-wrong": (
            "the optimizer state per parameter is wrong: SGD keeps none, momentum one buffer, "
            "Adam two (the first and second moments).",
            "Use 0, 1 and 2 state floats per parameter for sgd, momentum and adam."),
        "half-precision-state": (
            "under mixed precision the optimizer state was counted in 2-byte floats; it stays in "
            "fp32 (4 bytes), as do the master weights.",
            "Count the optimizer state at 4 bytes per float whatever the precision."),
        "activations-not-halved": (
            "under mixed precision the activations were counted at 4 bytes; they are stored in "
            "half precision (2 bytes), and this is where mixed precision saves memory.",
            "Count activation_floats * 2 bytes when mixed_precision is True."),
    },
)
