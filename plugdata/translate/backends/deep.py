"""deep-translator providers (Google, DeepL, Microsoft, MyMemory, LibreTranslate) as a backend.

The library sends one text per request and leaves chunking, retries, concurrency and caching to
its caller; the engine supplies them. Its requests carry no timeout, so a hung provider holds a
worker thread until the connection drops.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field

from plugdata.errors import require
from plugdata.translate.backends.base import (
    BackendOptions,
    PermanentError,
    TransientError,
    Translator,
)

# (class name, env var holding the key or None, USD per million characters, max chars per request)
PROVIDERS = {
    "google": ("GoogleTranslator", None, 0.0, 4500),
    "mymemory": ("MyMemoryTranslator", None, 0.0, 450),
    "libre": ("LibreTranslator", "LIBRE_API_KEY", 0.0, 4500),
    "deepl": ("DeeplTranslator", "DEEPL_API_KEY", 25.0, 4500),
    "microsoft": ("MicrosoftTranslator", "MICROSOFT_API_KEY", 10.0, 4500),
}
# Provider spellings of our ISO codes, where they differ.
CODES = {
    "google": {"zh": "zh-CN"},
    "mymemory": {"zh": "zh-CN", "en": "en-GB", "it": "it-IT", "es": "es-ES", "ko": "ko-KR"},
    "microsoft": {"zh": "zh-Hans"},
}
# Characters of CJK text grow ninefold when URL-encoded: Google's 5,000 limit bites early.
_CJK = {"zh", "ja", "ko"}
_TRANSIENT = {
    "ERR_TOO_MANY_REQUESTS",
    "ERR_INTERNAL_SERVER_ERROR",
    "ERR_SERVICE_NOT_AVAIBLE",
    "API server error",
}


class DeepOptions(BackendOptions):
    provider: Literal["google", "mymemory", "libre", "deepl", "microsoft"] = Field(
        "google", description="deep-translator provider"
    )
    base_url: str | None = Field(None, description="LibreTranslate server URL (custom_url)")
    api_key_env: str | None = Field(
        None, description="environment variable holding the key (default: the provider's own)"
    )
    region: str | None = Field(None, description="Microsoft Translator region")


class DeepTranslatorBackend(Translator):
    name = "deep-translator"
    Options = DeepOptions
    batch_size = 1  # the library makes one request per text

    def __init__(self, options: DeepOptions):
        require("deep_translator", "translate")
        super().__init__(options)
        self._class, self._key_env, self.default_price, self.max_chars = PROVIDERS[options.provider]

    @property
    def model(self) -> str:
        return self.options.provider

    def max_chars_for(self, source: str) -> int:
        if self.options.provider == "google" and source in _CJK:
            return 1500
        return self.max_chars

    def _client(self, source: str, target: str):
        import deep_translator

        provider = self.options.provider
        codes = CODES.get(provider, {})
        kwargs: dict = {"source": codes.get(source, source), "target": codes.get(target, target)}
        env = self.options.api_key_env or self._key_env
        if env:
            key = os.environ.get(env)
            if not key:
                raise PermanentError(f"{provider}: set the API key in ${env}")
            kwargs["api_key"] = key
        if provider == "libre" and self.options.base_url:
            kwargs["custom_url"] = self.options.base_url.rstrip("/") + "/"
        if provider == "microsoft" and self.options.region:
            kwargs["region"] = self.options.region
        try:
            return getattr(deep_translator, self._class)(**kwargs)
        except Exception as exc:  # unsupported language and key errors surface here
            raise PermanentError(f"{provider}: {exc}") from None

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        import requests
        from deep_translator import exceptions as dt

        client = self._client(source, target)
        out = []
        for text in texts:
            try:
                result = client.translate(text)
            except (dt.TooManyRequests, dt.RequestError, requests.RequestException) as exc:
                raise TransientError(f"{self.model}: {type(exc).__name__}") from None
            except dt.ServerException as exc:
                message = str(exc.args[0]) if exc.args else ""
                if message in _TRANSIENT:
                    raise TransientError(f"{self.model}: {message}") from None
                raise PermanentError(f"{self.model}: {message}") from None
            except dt.TranslationNotFound:
                raise TransientError(f"{self.model}: empty translation") from None
            except (
                dt.AuthorizationException,
                dt.NotValidLength,
                dt.NotValidPayload,
                dt.LanguageNotSupportedException,
            ) as exc:
                raise PermanentError(f"{self.model}: {type(exc).__name__}") from None
            if not isinstance(result, str) or not result.strip():
                raise TransientError(f"{self.model}: empty translation")
            out.append(result)
        return out
