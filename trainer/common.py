"""What training, generation and the in-process judge share: loading a published dataset
config, the chat template, the model/tokenizer (GGUF files included) and batched decoding, so
that the prompt a model is trained on and the prompt it answers are built by the same code."""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from plugdata.errors import PlugdataError, require
from plugdata.remote.locations import is_gguf
from trainer.sequences import decode_answer, start_like_the_tokenizer, stop_ids, until_stop

# The TULU-style template of the PLUG paper's code, for base models without a template of their
# own. `{% generation %}` marks the assistant part, eos included, for loss masking. The BOS that
# the paper's tokenization put before it is written by `start_like_the_tokenizer`.
TULU_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '\n' }}"
    "{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\n' }}"
    "{% generation %}{{ message['content'] + eos_token }}{% endgeneration %}{{ '\n' }}"
    "{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}"
)
PAD_TOKEN = "<|pad|>"
# What `train` writes beside the model it saves: how the model was trained.
RUN_MANIFEST = "plugdata_run.json"


def require_train() -> None:
    for module in ("torch", "transformers", "trl", "accelerate"):
        require(module, "train")


def template_hash(tokenizer) -> str:
    return hashlib.sha256((tokenizer.chat_template or "").encode()).hexdigest()


def trained_system_prompts(model: str, method: str) -> dict[str, str | None] | None:
    """`{method: text}`: the system turn a model trained by `plugdata train` saw, read from its
    run manifest when it was trained on `method` (a recipe can set its own, or none), so that
    generation prompts it as it was trained; None where the model has no such record.

    The manifest records its training rows' system turn since it was written by this version;
    an older one has no `system_prompt` and the method's default applies, as it did then.
    """
    import json

    manifest = Path(model) / RUN_MANIFEST
    if not manifest.is_file():
        return None
    try:
        run = json.loads(manifest.read_text(encoding="utf-8"))
        trained_on = run["dataset"]["config"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise PlugdataError(f"{manifest}: not a run manifest plugdata can read ({err})") from None
    if "system_prompt" not in run or not trained_on.endswith(f"-{method}"):
        return None
    return {method: run["system_prompt"]}


def model_source(model: str, flag: str = "--model") -> str:
    """What transformers loads for `model`: the Hub id or folder itself, or, for a GGUF file,
    a transformers folder dequantised from it (see `_dequantised`)."""
    if not is_gguf(model):
        return model
    try:
        return _dequantised(model)
    except GgufError as err:
        raise PlugdataError(f"{flag} {model}: {err}") from None


class GgufError(PlugdataError):
    """A GGUF file transformers cannot read (damaged, or an architecture it does not know)."""


@functools.cache  # by path alone: `--model` and `--judge-model` of one file share the folder
def _dequantised(path: str) -> str:
    """A GGUF file as a plain transformers folder, in a temporary folder removed when the
    process exits. Dequantising takes seconds to minutes, so it is done once per process,
    however many times the model is loaded; the folder, not the weights in memory, is what is
    kept, so a big model is not held twice."""
    import atexit
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="plugdata-gguf-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(dequantise_gguf(path, Path(folder)))


def dequantise_gguf(path: str, folder: Path) -> Path:
    """Write the model and tokenizer of the GGUF file `path` into `folder` as a plain
    transformers model with fp32 weights."""
    file = Path(path)
    _check_gguf(file)  # in a second, before torch and transformers load
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(file.parent, gguf_file=file.name)
        # dequantize=True: dense weights even where a GGUF matmul kernel would keep the blocks
        # (those can be neither trained nor saved).
        model = AutoModelForCausalLM.from_pretrained(
            file.parent,
            gguf_file=file.name,
            dtype=torch.float32,
            quantization_config=GgufConfig(dequantize=True),
        )
    except (OSError, ValueError, KeyError) as exc:  # unreadable, or an unsupported architecture
        raise GgufError(f"cannot load the GGUF file ({_first(exc)})") from None
    # The weights are plain floats now: without the GGUF quantizer and its config entry, the
    # model saves, and the folder loads, trains and serves, as an ordinary one.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.config.architectures = [type(model).__name__]
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _check_gguf(file: Path) -> None:
    """Refuse a damaged GGUF file (cut short by a failed download or copy) in one line, before
    transformers spends minutes on it and fails with whatever its parser meets first."""
    from gguf import GGUFReader

    try:
        reader = GGUFReader(file)
        needed = max((t.data_offset + int(t.n_bytes) for t in reader.tensors), default=0)
    # The file is the user's input: whatever its parser fails with (struct.error, ValueError
    # from a short tensor, IndexError, ...) means it is not a whole GGUF file.
    except Exception as exc:
        raise GgufError(
            f"cannot load the GGUF file (not a GGUF file, or one cut short: {_first(exc)})"
        ) from None
    size = file.stat().st_size
    if needed > size:
        raise GgufError(
            f"cannot load the GGUF file (cut short: {size} bytes, its tensors end at {needed})"
        )


def load_model(model: str, flag: str = "--model", **kwargs):
    """The causal LM named by `model` (Hub id, transformers folder or GGUF file), with
    `from_pretrained`'s keyword arguments (dtype, attn_implementation, ...). Every command
    loads its model here."""
    from transformers import AutoModelForCausalLM

    try:
        return AutoModelForCausalLM.from_pretrained(model_source(model, flag), **kwargs)
    except (OSError, ValueError) as exc:
        raise PlugdataError(f"{flag} {model}: cannot load the model ({_first(exc)})") from None


def load_tokenizer(model: str, *, for_training: bool = True, flag: str = "--model"):
    """The model's tokenizer with a chat template (its own, else TULU) that starts with the
    tokenizer's own special prefix (BOS, where it adds one; see `trainer.sequences`).

    For training, the pad token is made distinct from eos (added, and the caller resizes the
    embeddings), so that the model learns to stop. For generation nothing is added: the model
    has no embedding for a new token, and left padding under the attention mask may reuse eos.
    """
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(model_source(model, flag))
    except (OSError, ValueError) as exc:
        raise PlugdataError(f"{flag} {model}: cannot load a tokenizer ({_first(exc)})") from None
    if not tokenizer.chat_template:
        tokenizer.chat_template = TULU_TEMPLATE
    start_like_the_tokenizer(tokenizer)
    added = 0
    if not for_training:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    elif tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        added = tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    tokenizer.padding_side = "right"
    return tokenizer, added


def load_config_split(dataset: str, config: str, split: str | None, flag: str = "--dataset"):
    """One split of a published config (Hub id or local folder), or with None all of them (a
    DatasetDict), with one-line errors naming `flag`, the option of the command that gave
    `dataset`; check the dataset with `plugdata.remote.locations.check_dataset` first, once,
    for a quick failure."""
    import datasets

    try:
        return datasets.load_dataset(dataset, config, split=split)
    except ValueError as exc:  # unknown config or split: datasets lists the choices
        raise PlugdataError(f"{flag} {dataset} --config {config}: {_first(exc)}") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise PlugdataError(f"{flag} {dataset}: not found ({_first(exc)})") from None
    # Offline without a usable cached copy, or the network went down after the check.
    except ConnectionError as exc:
        raise PlugdataError(f"{flag} {dataset}: {_first(exc)}") from None


def _first(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def load_for_generation(model: str, flag: str = "--model"):
    """(tokenizer, model) ready to generate: left padding, bf16 on a GPU that has it, else fp32."""
    import torch

    tokenizer, _ = load_tokenizer(model, for_training=False, flag=flag)
    tokenizer.padding_side = "left"  # generation continues from the right edge
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return tokenizer, load_model(model, flag, dtype=dtype).to(device).eval()


@dataclass
class Generated:
    index: int  # into the prompts
    text: str  # special tokens skipped, no unfinished character at the end
    tokens: int  # the answer's tokens, the stop token included
    finish: str  # "stop": the model ended it; "length": the budget did


def generate_ids(
    tokenizer,
    model,
    prompts: list[list[int]],
    allowances: list[int],
    *,
    batch_size: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
) -> Iterator[list[Generated]]:
    """Answers to token-id prompts, batch by batch, each with at most its own allowance of new
    tokens; longest prompts first, so that each batch pads little and an out-of-memory error
    shows in the first batch."""
    import torch

    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    sampling = temperature > 0
    stop = stop_ids(tokenizer, model)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in batch)
        # Padded on the left: generation continues every row from the right edge.
        pads = [width - len(prompts[i]) for i in batch]
        ids = [[tokenizer.pad_token_id] * n + prompts[i] for n, i in zip(pads, batch, strict=True)]
        mask = [[0] * n + [1] * (width - n) for n in pads]
        with torch.inference_mode():
            output = model.generate(
                input_ids=torch.tensor(ids, device=model.device),
                attention_mask=torch.tensor(mask, device=model.device),
                # The batch runs to its most generous allowance; each row is cut to its own
                # below, as if it had been decoded alone.
                max_new_tokens=max(allowances[i] for i in batch),
                do_sample=sampling,
                temperature=temperature if sampling else None,
                top_p=top_p if sampling else None,
                pad_token_id=tokenizer.pad_token_id,
            )
        rows = output[:, width:].tolist()
        answers = []
        for i, row in zip(batch, rows, strict=True):
            kept, finish = until_stop(row, stop, allowances[i])
            answers.append(Generated(i, decode_answer(tokenizer, kept), len(kept), finish))
        yield answers


def generate_batches(
    tokenizer,
    model,
    prompts: list[str],
    *,
    batch_size: int,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_p: float = 1.0,
):
    """Yield [(index into prompts, generated text, new tokens)] per batch for rendered text
    prompts (the in-process judge's), each answer at most `max_new_tokens` long."""
    ids = tokenizer(prompts, add_special_tokens=False)["input_ids"]
    for batch in generate_ids(
        tokenizer,
        model,
        ids,
        [max_new_tokens] * len(prompts),
        batch_size=batch_size,
        temperature=temperature,
        top_p=top_p,
    ):
        yield [(g.index, g.text, g.tokens) for g in batch]
