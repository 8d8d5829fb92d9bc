"""A local transformers translation model (MarianMT, NLLB-200, M2M100, or any seq2seq LM).

Texts are sorted by length before batching so padding stays small, generated greedily by default
(bf16 on a GPU), and put back in order. With several devices each gets a replica of the model and
its own thread (generation releases the GIL inside torch), so a `--concurrency` equal to the
number of devices keeps every GPU busy; several machines use `--executor ray` or `--shard i/N`.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path

from pydantic import Field

from plugdata.errors import PlugdataError, require
from plugdata.remote.retrying import SETUP, Failure
from plugdata.translate.backends.base import BackendOptions, RequestFailed, Translator


class Seq2SeqOptions(BackendOptions):
    model: str = Field(description="Hub id or local directory, e.g. Helsinki-NLP/opus-mt-en-it")
    devices: list[str] = Field(
        default_factory=lambda: ["auto"],
        description="torch devices, one model replica each (auto: cuda:0 if present, else cpu)",
    )
    dtype: str = Field(
        "auto",
        pattern="^(auto|float32|bfloat16|float16)$",
        description="auto: bfloat16 on GPU, float32 on CPU",
    )
    batch_size: int = Field(32, ge=1, description="texts per generate() call")
    max_new_tokens: int = Field(512, ge=1)
    num_beams: int | None = Field(None, ge=1, description="default: the model's own setting")
    max_input_tokens: int | None = Field(None, ge=8, description="default: the model's limit")


class Seq2SeqBackend(Translator):
    name = "seq2seq"
    Options = Seq2SeqOptions
    uses_gpu = True
    service = False

    def __init__(self, options: Seq2SeqOptions):
        require("torch", "seq2seq")
        require("transformers", "seq2seq")
        super().__init__(options)
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(options.model)
        except (OSError, ValueError) as exc:
            raise PlugdataError(f"seq2seq model {options.model!r}: cannot load ({exc})") from None
        devices = [self._device(d, torch) for d in options.devices]
        self._replicas: queue.Queue = queue.Queue()
        for device in devices:
            dtype = self._dtype(device, torch)
            model = AutoModelForSeq2SeqLM.from_pretrained(options.model, dtype=dtype)
            self._replicas.put(model.to(device).eval())
        self.devices = devices
        limit = options.max_input_tokens or min(
            getattr(self.tokenizer, "model_max_length", 512) or 512, 1024
        )
        self.max_input_tokens = limit
        # About three characters per token keeps pieces under the model's window.
        self.max_chars = max(64, limit * 3)
        self.batch_size = options.batch_size
        self._lock = threading.Lock()

    @staticmethod
    def _device(name: str, torch) -> str:
        if name == "auto":
            return "cuda:0" if torch.cuda.is_available() else "cpu"
        return name

    def _dtype(self, device: str, torch):
        if self.options.dtype != "auto":
            return getattr(torch, self.options.dtype)
        return torch.bfloat16 if device.startswith("cuda") else torch.float32

    @property
    def model(self) -> str:
        path = Path(self.options.model)
        return path.name if path.exists() else self.options.model

    def _language_kwargs(self, source: str, target: str) -> dict:
        """NLLB and M2M100 need source/target codes; Marian models are one pair each. NLLB
        spells them as FLORES-200 (the language table's `nllb` codes); M2M100 uses ISO codes."""
        tok = self.tokenizer
        kwargs = {}
        if hasattr(tok, "src_lang"):
            nllb = "nllb" in type(tok).__name__.lower()
            tok.src_lang = self.language_code(source, "nllb") if nllb else source
            forced = self.language_code(target, "nllb") if nllb else target
            token_id = tok.convert_tokens_to_ids(
                forced if nllb else getattr(tok, "get_lang_token", lambda x: x)(forced)
            )
            if token_id is None or token_id == tok.unk_token_id:
                reason = f"no language code for {target!r}"
                raise RequestFailed(Failure(reason, SETUP, sent=False))
            kwargs["forced_bos_token_id"] = token_id
        return kwargs

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        import torch

        model = self._replicas.get()
        try:
            with self._lock:  # tokenizer state (src_lang) is shared
                kwargs = self._language_kwargs(source, target)
            order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
            out: list[str] = [""] * len(texts)
            for start in range(0, len(order), self.batch_size):
                chunk = order[start : start + self.batch_size]
                with self._lock:
                    batch = self.tokenizer(
                        [texts[i] for i in chunk],
                        return_tensors="pt",
                        padding=True,
                        truncation=True,
                        max_length=self.max_input_tokens,
                    )
                batch = {k: v.to(model.device) for k, v in batch.items()}
                with torch.inference_mode():
                    generated = model.generate(
                        **batch,
                        **kwargs,
                        max_new_tokens=self.options.max_new_tokens,
                        **({"num_beams": self.options.num_beams} if self.options.num_beams else {}),
                    )
                decoded = self.tokenizer.batch_decode(generated, skip_special_tokens=True)
                for i, text in zip(chunk, decoded, strict=True):
                    out[i] = text.strip()
            return out
        finally:
            self._replicas.put(model)

    def close(self) -> None:
        while not self._replicas.empty():
            self._replicas.get()
