"""What training, generation and the in-process judge share: loading a published dataset
config, the chat template, the model/tokenizer (GGUF files included) and batched decoding, so
that the prompt a model is trained on and the prompt it answers are built by the same code."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from plugdata.errors import PlugdataError, require
from plugdata.remote.locations import is_gguf

# The TULU-style template of the PLUG paper's code, for base models without a template of their
# own. `{% generation %}` marks the assistant part, eos included, for loss masking.
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


def require_train() -> None:
    for module in ("torch", "transformers", "trl", "accelerate"):
        require(module, "train")


def template_hash(tokenizer) -> str:
    return hashlib.sha256((tokenizer.chat_template or "").encode()).hexdigest()


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
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    file = Path(path)
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
    """The model's tokenizer with a chat template (its own, else TULU).

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
    added = 0
    if not for_training:
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
    elif tokenizer.pad_token is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        added = tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    tokenizer.padding_side = "right"
    return tokenizer, added


def load_config_split(dataset: str, config: str, split: str):
    """One split of a published config (Hub id or local folder), with one-line errors; check
    the dataset with `plugdata.remote.locations.check_dataset` first, once, for a quick failure."""
    import datasets

    try:
        return datasets.load_dataset(dataset, config, split=split)
    except ValueError as exc:  # unknown config or split: datasets lists the choices
        raise PlugdataError(f"--dataset {dataset} --config {config}: {_first(exc)}") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise PlugdataError(f"--dataset {dataset}: not found ({_first(exc)})") from None
    # Offline without a usable cached copy, or the network went down after the check.
    except ConnectionError as exc:
        raise PlugdataError(f"--dataset {dataset}: {_first(exc)}") from None


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
    """Yield [(index into prompts, generated text, new tokens)] per batch; longest prompts
    first, so that each batch pads little and an out-of-memory error shows in the first batch."""
    import torch

    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]), reverse=True)
    sampling = temperature > 0
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        encoded = tokenizer(
            [prompts[i] for i in batch],
            return_tensors="pt",
            padding=True,
            add_special_tokens=False,
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                max_new_tokens=max_new_tokens,
                do_sample=sampling,
                temperature=temperature if sampling else None,
                top_p=top_p if sampling else None,
                pad_token_id=tokenizer.pad_token_id,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        texts = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        # Padding after an answer that stopped early is not generated work (a pad that is also
        # eos drops the final eos from the count too: one token in a rate).
        counts = (new_tokens != tokenizer.pad_token_id).sum(dim=1).tolist()
        yield list(zip(batch, texts, counts, strict=True))
