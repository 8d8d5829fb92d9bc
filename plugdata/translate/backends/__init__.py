"""Translator backends by name. Tests add their own with `monkeypatch.setitem(TRANSLATORS, ...)`."""

from __future__ import annotations

from plugdata.translate.backends.base import Translator
from plugdata.translate.backends.chat import ChatBackend
from plugdata.translate.backends.deep import DeepTranslatorBackend
from plugdata.translate.backends.seq2seq import Seq2SeqBackend

TRANSLATORS: dict[str, type[Translator]] = {
    DeepTranslatorBackend.name: DeepTranslatorBackend,
    ChatBackend.name: ChatBackend,
    Seq2SeqBackend.name: Seq2SeqBackend,
}
