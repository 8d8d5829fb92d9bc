"""What training and generation share: loading a published dataset config, the chat template,
and the model/tokenizer, so that the prompt a model is trained on and the prompt it answers are
built by the same code."""

from __future__ import annotations

import hashlib
from pathlib import Path

from plugdata.errors import PlugdataError, require

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


def check_model_path(model: str) -> None:
    looks_local = model.startswith((".", "/", "~")) or Path(model).expanduser().exists()
    if looks_local and not Path(model).expanduser().exists():
        raise PlugdataError(f"--model {model}: no such directory")


def load_tokenizer(model: str, *, for_training: bool = True):
    """The model's tokenizer with a chat template (its own, else TULU).

    For training, the pad token is made distinct from eos (added, and the caller resizes the
    embeddings), so that the model learns to stop. For generation nothing is added: the model
    has no embedding for a new token, and left padding under the attention mask may reuse eos.
    """
    from transformers import AutoTokenizer

    check_model_path(model)
    try:
        tokenizer = AutoTokenizer.from_pretrained(model)
    except (OSError, ValueError) as exc:
        raise PlugdataError(f"--model {model}: cannot load a tokenizer ({_first(exc)})") from None
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
    """One split of a published config (Hub id or local folder), with one-line errors."""
    import datasets

    try:
        return datasets.load_dataset(dataset, config, split=split)
    except ValueError as exc:  # unknown config or split: datasets lists the choices
        raise PlugdataError(f"--dataset {dataset} --config {config}: {_first(exc)}") from None
    except (FileNotFoundError, datasets.exceptions.DatasetNotFoundError) as exc:
        raise PlugdataError(f"--dataset {dataset}: not found ({_first(exc)})") from None


def _first(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
