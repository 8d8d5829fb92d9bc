"""Fine-tune a causal LM on a published PLUG training config with TRL's SFTTrainer.

Top to bottom: options and presets -> data -> model and tokenizer -> trainer -> train (the
validation loss evaluated each epoch or every N steps) -> save and write the run manifest. Loss
is on the completion only (TRL's prompt-completion handling): for `plug` that is the pivot
instruction, the pivot answer and the target answer; system and user turns never carry loss.
Multi-GPU and multi-node runs are this same file under
`accelerate launch --config_file trainer/configs/<ddp|zero3|fsdp2>.yaml`.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from plugdata.core.jsonl import read_json_file, write_json
from plugdata.core.options import refuse_overwrite_of
from plugdata.dataset.folder import config_name, parse_config_name, read_manifest
from plugdata.errors import PlugdataError
from plugdata.remote.locations import check_dataset, check_model
from trainer.common import (
    RUN_MANIFEST,
    load_config_split,
    load_model,
    load_tokenizer,
    require_train,
    template_hash,
)
from trainer.options import TrainOptions
from trainer.sequences import special_prefix

if TYPE_CHECKING:  # the libraries load when a run starts, not when this module is imported
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase
    from trl import SFTTrainer


# -- presets ---------------------------------------------------------------------------------------
PRESETS = {
    # The paper: lr 5e-6, linear, 3% warmup, no weight decay, 4 epochs, batch 64, 4096 tokens.
    "paper": dict(
        learning_rate=5e-6,
        epochs=4,
        global_batch_size=64,
        max_length=4096,
        loss_average="example",
        gradient_checkpointing=True,
        per_device_batch_cap=8,
    ),
    # For checks on small hardware: few steps, big learning rate, short sequences;
    # checkpointing keeps a CPU run of a 135M model in a few GB (bench/bench_train.py).
    "quick": dict(
        learning_rate=1e-4,
        epochs=1,
        global_batch_size=8,
        max_length=1024,
        loss_average="token",
        gradient_checkpointing=True,
        # Activations scale with the per-device batch: one row at a time keeps a CPU run of a
        # 135M model near 3 GB (2 per device: 4.6 GB); accumulation keeps the global batch of 8,
        # and the loss does not depend on the split.
        per_device_batch_cap=1,
    ),
}


def resolve(options: TrainOptions, world_size: int) -> dict:
    """Preset values overridden by explicit options; batch split for the hardware."""
    chosen = dict(PRESETS[options.preset])
    for key in ("learning_rate", "epochs", "global_batch_size", "max_length", "loss_average"):
        value = getattr(options, key)
        if value is not None:
            chosen[key] = value
    per_device = options.per_device_batch_size or max(
        1, min(chosen["per_device_batch_cap"], chosen["global_batch_size"] // world_size)
    )
    accumulation = max(1, chosen["global_batch_size"] // (per_device * world_size))
    chosen.update(
        per_device_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        world_size=world_size,
        effective_batch_size=per_device * accumulation * world_size,
    )
    return chosen


# -- data ----------------------------------------------------------------------------------------
def load_training_data(options: TrainOptions):
    """The config's train split, checked to be training rows (prompt and completion), and its
    validation split where evaluation is on and the config has one (None otherwise)."""
    splits = load_config_split(options.dataset, options.config, None)
    columns = set(splits["train"].column_names) if "train" in splits else set()
    missing = {"prompt", "completion"} - columns
    if missing:
        lacks = f"{'/'.join(sorted(missing))} column" if columns else "train split"
        raise PlugdataError(
            f"--config {options.config}: not a training config (no {lacks}); use a method "
            f"config such as {config_name(parse_config_name(options.config)[0], 'plug')}"
        )
    train = splits["train"]
    validation = splits.get("validation") if options.evaluate else None
    if options.eval_steps and validation is None:
        raise PlugdataError(
            f"--eval-steps: --config {options.config} has no validation split to evaluate on; "
            "drop --eval-steps or pass --no-eval"
        )
    return train, validation


# -- the run -------------------------------------------------------------------------------------
@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    losses: list[float]
    manifest: dict

    def summary(self) -> str:
        first = f"{self.losses[0]:.3f}" if self.losses else "-"
        last = f"{self.losses[-1]:.3f}" if self.losses else "-"
        head = (
            f"trained {self.steps} steps, loss {first} -> {last}; model and "
            f"{RUN_MANIFEST} in {self.output_dir}"
        )
        evaluation = self.manifest["evaluation"]
        losses = [e["loss"] for e in evaluation.get("losses", [])]
        if losses:
            where = f"{evaluation['split']} ({evaluation['rows']} rows)"
            times = f"{len(losses)} evaluation{'s' if len(losses) > 1 else ''}"
            tail = f"{where} loss {losses[0]:.3f} -> {losses[-1]:.3f} ({times})"
        else:
            tail = f"not evaluated: {evaluation['skipped']}" if "skipped" in evaluation else ""
        return "\n".join(line for line in (head, tail) if line)


def _check_output_dir(options: TrainOptions) -> None:
    manifest = options.output_dir / RUN_MANIFEST
    if manifest.exists() and not options.overwrite:
        other = read_json_file(manifest)
        other = other if isinstance(other, dict) else {}
        same = (
            other.get("dataset", {}).get("config") == options.config
            and other.get("model") == options.model
        )
        raise PlugdataError(
            f"--output-dir {options.output_dir}: holds "
            f"{'a finished run of the same setup' if same else 'another run'} "
            f"({other.get('model')} on {other.get('dataset', {}).get('config')}); choose another "
            "directory or pass --overwrite"
        )


@dataclass
class TrainingSetup:
    """What `build_trainer` makes: the trainer, ready to train, and what the run manifest and
    the saved model need besides it."""

    trainer: SFTTrainer  # our subclass (see `_trainer_class`)
    hyperparameters: dict[str, Any]  # `resolve`'s: the preset, the overrides, the batch split
    train_data: Dataset  # the config's train split, as loaded
    tokenizer: PreTrainedTokenizerBase  # with the chat template and pad token it trains with
    validation: Dataset | None  # the split evaluated on; None when evaluation is off or has none


def build_trainer(
    options: TrainOptions, *, report_to: str = "none", logging_steps: int = 1
) -> TrainingSetup:
    """The SFTTrainer for these options, not yet trained (`train` runs it; tests and
    bench/bench_train.py look at its label masks, collator and loss)."""
    require_train()
    check_dataset(options.dataset)
    check_model(options.model)
    import torch
    from transformers.utils import is_flash_attn_2_available
    from trl import SFTConfig

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    hp = resolve(options, world_size)
    train, validation = load_training_data(options)
    tokenizer, added = load_tokenizer(options.model)
    flash = torch.cuda.is_available() and is_flash_attn_2_available()
    bf16 = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    model = load_model(
        options.model,
        dtype=torch.bfloat16 if bf16 else torch.float32,
        attn_implementation="flash_attention_2" if flash else "sdpa",
    )
    if added:
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if model.generation_config is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
    peft_config = None
    if options.lora_r:
        from peft import LoraConfig

        peft_config = LoraConfig(
            r=options.lora_r,
            lora_alpha=2 * options.lora_r,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
    args = SFTConfig(
        output_dir=str(options.output_dir),
        learning_rate=hp["learning_rate"],
        lr_scheduler_type="linear",
        warmup_steps=0.03,
        weight_decay=0.0,
        num_train_epochs=hp["epochs"],
        max_steps=options.max_steps or -1,
        per_device_train_batch_size=hp["per_device_batch_size"],
        gradient_accumulation_steps=hp["gradient_accumulation_steps"],
        max_length=hp["max_length"],
        bf16=bf16,
        activation_checkpointing=hp["gradient_checkpointing"],
        seed=options.seed,
        completion_only_loss=True,
        # Padding-free packing keeps example boundaries only with FlashAttention's varlen
        # kernels; elsewhere length-grouped batches cut the padding instead.
        padding_free=flash,
        packing=flash,
        train_sampling_strategy="random" if flash else "group_by_length",
        logging_steps=logging_steps,
        # The paper's script could evaluate only at its checkpoints (--do_valid) and its
        # published command did not; a loss on held-out rows costs little and shows overfitting.
        eval_strategy="no" if validation is None else "steps" if options.eval_steps else "epoch",
        eval_steps=options.eval_steps,
        per_device_eval_batch_size=hp["per_device_batch_size"],
        save_strategy="no",
        report_to=report_to,
        dataloader_pin_memory=torch.cuda.is_available(),  # pinning needs an accelerator
    )
    trainer = _trainer_class()(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=validation,
        processing_class=tokenizer,
        peft_config=peft_config,
        loss_average=hp["loss_average"],
    )
    trainer.data_collator = LabelsEndAtEos(trainer.data_collator, tokenizer.eos_token_id)
    return TrainingSetup(trainer, hp, train, tokenizer, validation)


# -- loss ------------------------------------------------------------------------------------------
class LabelsEndAtEos:
    """The collator's batch with loss ending at eos: chat templates write text after eos (the
    TULU template's `\n`, ChatML's `\n` after `<|im_end|>`), and TRL's completion mask, being
    "everything after the prompt", would teach the model to emit it. In each run of labelled
    tokens (one completion, also inside a packed row) the tokens after its last eos lose their
    label; a run without eos (cut at --max-length) keeps all of its labels."""

    def __init__(self, collator, eos_token_id: int):
        self.collator, self.eos = collator, eos_token_id

    def __call__(self, examples):
        batch = self.collator(examples)
        batch["labels"] = end_labels_at_eos(batch["labels"], self.eos)
        return batch


def end_labels_at_eos(labels, eos: int):
    """
    >>> import torch
    >>> end_labels_at_eos(torch.tensor([[-100, 5, 2, 9, -100, 7, 2, 9]]), eos=2).tolist()
    [[-100, 5, 2, -100, -100, 7, 2, -100]]
    """
    import torch

    rows = labels.tolist()
    for row in rows:
        i = 0
        while i < len(row):
            if row[i] == -100:
                i += 1
                continue
            end = i
            while end < len(row) and row[end] != -100:
                end += 1
            run = row[i:end]
            if eos in run:
                last = i + len(run) - 1 - run[::-1].index(eos)
                row[last + 1 : end] = [-100] * (end - last - 1)
            i = end
    return torch.tensor(rows, dtype=labels.dtype, device=labels.device)


def _example_ids(shape, position_ids):
    """Example index of each next-token target (`labels[:, 1:]`), numbered across the batch:
    a row is an example, and in padding-free packed rows each restart of position_ids is one."""
    import torch

    starts = torch.zeros(shape, dtype=torch.bool)
    if position_ids is not None:
        starts = (position_ids[:, 1:] == 0).cpu()
    starts[:, 0] = True
    return starts.flatten().cumsum(0) - 1


def per_example_losses(log_probs, label_mask, position_ids=None):
    """The paper's averaging, first half: the mean negative log-likelihood of each example's
    labelled tokens (examples without any are left out), so long answers do not outweigh short
    ones. `log_probs` and `label_mask` are aligned with `labels[:, 1:]`, as TRL's fused LM head
    returns them.

    >>> import torch
    >>> per_example_losses(-torch.tensor([[1.0, 3.0], [2.0, 0.0]]),
    ...                    torch.tensor([[True, True], [True, False]])).tolist()
    [2.0, 2.0]
    """
    import torch

    example = _example_ids(label_mask.shape, position_ids).to(log_probs.device)
    n = int(example[-1]) + 1
    mask = label_mask.flatten().to(log_probs.dtype)
    zeros = torch.zeros(n, dtype=log_probs.dtype, device=log_probs.device)
    nll = zeros.index_add(0, example, -log_probs.flatten() * mask)
    count = zeros.index_add(0, example, mask)
    keep = count > 0
    return nll[keep] / count[keep]


def count_examples(labels, position_ids=None):
    """Examples with at least one labelled target in a collated batch."""
    import torch

    mask = (labels[:, 1:] != -100).flatten().cpu()
    example = _example_ids(mask.view(labels.size(0), -1).shape, position_ids)
    count = torch.zeros(int(example[-1]) + 1, dtype=torch.long).index_add(0, example, mask.long())
    return int((count > 0).sum())


def _trainer_class():
    """SFTTrainer whose loss does not depend on how the global batch is split into per-device
    batches and accumulation steps. transformers hands `compute_loss` the count of the global
    batch's items (`num_items_in_batch`); we count tokens for the token average and examples
    for the example average, so each micro-batch contributes its sum divided by the global
    count and the accumulated gradient is that of the global mean."""
    import torch
    from trl import SFTTrainer

    class PlugSFTTrainer(SFTTrainer):
        # Each micro-batch's loss is already divided by the global count (see above).
        loss_is_scaled_for_ga = True

        def __init__(self, *args, loss_average: str, **kwargs):
            super().__init__(*args, **kwargs)
            self.loss_average = loss_average

        def _get_num_items_in_batch(self, batch_samples, device):
            if not batch_samples or "labels" not in batch_samples[0]:
                return None
            if self.loss_average == "example":
                counts = (count_examples(b["labels"], b.get("position_ids")) for b in batch_samples)
            else:
                counts = (int((b["labels"][:, 1:] != -100).sum()) for b in batch_samples)
            count = sum(counts)
            count = torch.tensor(count, device=device)
            if self.args.average_tokens_across_devices and self.args.world_size > 1:
                count = self.accelerator.gather(count).sum()
            return count

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.loss_average == "token" or return_outputs:
                # TRL's own loss: summed log-probabilities from its fused LM head (no full
                # logits) over num_items_in_batch.
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            # TRL's compute_loss runs the one fused forward and logs its metrics (entropy,
            # token accuracy, tokens seen); we keep its outputs and form the example average
            # from the same per-token log-probabilities, so no second forward pass is needed.
            seen = {}

            def forward(*args, **kwargs):
                seen["outputs"] = model(*args, **kwargs)
                return seen["outputs"]

            super().compute_loss(forward, inputs, num_items_in_batch=num_items_in_batch)
            outputs = seen["outputs"]
            losses = per_example_losses(
                outputs.log_probs, outputs.label_mask, inputs.get("position_ids")
            )
            # Evaluation (TRL's prediction_step passes no count): this batch's mean; the
            # evaluation loop weights the batches by their rows.
            if num_items_in_batch is None:
                return losses.mean() if len(losses) else losses.sum()
            loss = losses.sum() / num_items_in_batch.clamp(min=1)
            if self.args.average_tokens_across_devices:
                # DDP averages gradients over ranks; the count already spans all of them.
                loss = loss * self.accelerator.num_processes
            return loss

    return PlugSFTTrainer


def train(options: TrainOptions) -> TrainResult:
    refuse_overwrite_of(options)  # as the command does: called from Python too
    _check_output_dir(options)
    setup = build_trainer(options)
    trainer, tokenizer = setup.trainer, setup.tokenizer
    trainer.train()
    trainer.save_model(str(options.output_dir))
    tokenizer.save_pretrained(str(options.output_dir))
    losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
    steps = trainer.state.global_step
    manifest = _run_manifest(options, setup.hyperparameters, setup.train_data, tokenizer, steps)
    manifest["evaluation"] = _evaluation(options, setup.validation, trainer.state.log_history)
    write_json(options.output_dir / RUN_MANIFEST, manifest)
    return TrainResult(options.output_dir, steps, losses, manifest)


def _run_manifest(options: TrainOptions, hp: dict, data, tokenizer, steps: int) -> dict:
    from plugdata.core.redact import public_path
    from plugdata.dataset.shards import table_hash

    pivot, target = _languages(options.dataset, options.config)
    tokens = Counter()
    for row in data:
        lang = pivot if row.get("kind") == "pivot" else target
        text = "".join(m["content"] for m in row["prompt"] + row["completion"])
        tokens[lang] += len(tokenizer(text, add_special_tokens=False)["input_ids"])
    epochs = (
        hp["epochs"]
        if not options.max_steps
        else (steps * hp["effective_batch_size"] / max(1, len(data)))
    )
    return {
        "dataset": {
            "id": public_path(options.dataset),
            "config": options.config,
            "revision": getattr(data.info, "version", None) and str(data.info.version),
            "sha256": table_hash(data.data.table),
            "rows": len(data),
        },
        "model": public_path(options.model),
        "template_sha256": template_hash(tokenizer),
        # The system turn of the method's rows (None: none), which generation prompts with.
        "system_prompt": _system_turn(options.config, data),
        # What every training sequence starts with: the tokenizer's own prefix (Llama's BOS),
        # as the paper's tokenization; "" where the tokenizer adds none.
        "sequence_start": tokenizer.decode(special_prefix(tokenizer)),
        "hyperparameters": {
            **hp,
            "max_steps": options.max_steps,
            "seed": options.seed,
            "lora_r": options.lora_r,
            "preset": options.preset,
            "warmup_ratio": 0.03,
            "weight_decay": 0.0,
            "scheduler": "linear",
        },
        "loss_average": hp["loss_average"],
        "steps": steps,
        "tokens_seen_per_language": {k: round(v * epochs) for k, v in tokens.items()},
        "libraries": {
            lib: version(lib)
            for lib in ("plugdata", "torch", "transformers", "trl", "accelerate", "datasets")
        },
    }


def _system_turn(config: str, data) -> str | None:
    """The system turn of the config's own rows (not the pivot-language rows of its mixture),
    as its recipe rendered them: one text for every row of a method config."""
    method = parse_config_name(config)[1]
    for row in data:
        if row.get("kind", method) != "pivot":
            first = row["prompt"][0]
            return first["content"] if first["role"] == "system" else None
    return None


def _evaluation(options: TrainOptions, validation, log_history: list[dict]) -> dict:
    """The run manifest's record of evaluation: where and how often, and each validation loss
    (averaged as the training loss is, per --loss-average); or why there was none."""
    if validation is None:
        return {"skipped": "--no-eval" if not options.evaluate else "no validation split"}
    return {
        "split": "validation",
        "rows": len(validation),
        "every": f"{options.eval_steps} steps" if options.eval_steps else "epoch",
        "losses": [
            {"step": e["step"], "epoch": round(e["epoch"], 4), "loss": e["eval_loss"]}
            for e in log_history
            if "eval_loss" in e
        ],
    }


def _languages(dataset: str, config: str) -> tuple[str, str]:
    """(pivot, target) from the folder's manifest; a Hub id without a local copy says "pivot"."""
    language = parse_config_name(config)[0]
    if not Path(dataset).is_dir():
        return "pivot", language
    info = read_manifest(Path(dataset)).configs.get(config)
    return (info.pivot, info.language) if info else ("pivot", language)
