"""The translator interface: a backend implements one batch call; everything else (segmenting,
caching, concurrency, rate limits, retries, cost) lives once in the engine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from plugdata.core.languages import LANGUAGES, LanguageTable
from plugdata.remote.calls import DEFAULT_MAX_RETRIES
from plugdata.remote.retrying import Failure


class RequestFailed(Exception):
    """A backend request failed; `failure` says how (setup, transient or row) and whether the
    request left the process. The engine decides about retries and stopping."""

    def __init__(self, failure: Failure):
        super().__init__(failure.reason)
        self.failure = failure


class BackendOptions(BaseModel):
    """Options every backend accepts; a backend's own options extend this model."""

    model_config = ConfigDict(extra="forbid")

    requests_per_second: float | None = Field(None, gt=0, description="request rate cap")
    chars_per_minute: int | None = Field(None, gt=0, description="character rate cap")
    max_retries: int = Field(
        DEFAULT_MAX_RETRIES, ge=0, description="retries per request on transient errors"
    )
    timeout: float = Field(60.0, gt=0, description="seconds per request")
    price_per_million_chars: float | None = Field(
        None, ge=0, description="override the price table (USD per million source characters)"
    )


class Translator(ABC):
    """One backend. Subclasses set the class attributes and implement `translate_batch`."""

    name: ClassVar[str]
    Options: ClassVar[type[BackendOptions]] = BackendOptions
    # Longest piece sent in one text, and how many texts go in one request.
    max_chars: ClassVar[int] = 4500
    batch_size: ClassVar[int] = 16
    # Bump when prompts or templates change: it is part of every cache key.
    version: ClassVar[str] = "1"
    # Whether it computes on a GPU: the Ray executor then gives it one actor per GPU.
    uses_gpu: ClassVar[bool] = False
    # Whether it is a service (paid for, rate-limited): then the content checks' verdicts on
    # the first rows decide whether it works before the rest is sent. A model in this process
    # answers what it answers; its rows are checked like any others.
    service: ClassVar[bool] = True
    # USD per million source characters when the options do not say; 0 for free services.
    default_price: ClassVar[float] = 0.0
    # Names and service spellings of the codes this backend is asked for: the built-in table,
    # or the recipe's own (`make_translator` sets it).
    languages: LanguageTable = LANGUAGES

    def __init__(self, options: BackendOptions):
        self.options = options

    @property
    def model(self) -> str:
        """What produced the text, for cache keys and `meta.made_by`."""
        return self.name

    @property
    def host(self) -> str:
        """Where requests go, for messages (never with credentials)."""
        return "this machine"

    @property
    def who(self) -> str:
        """Backend, model and host, as every message about this backend names them."""
        return f"{self.name} ({self.model}) at {self.host}"

    @property
    def joint(self) -> bool:
        """Whether the backend translates instruction and response in one request (the
        `joint` strategy, tried first)."""
        return False

    def max_chars_for(self, source: str) -> int:
        """Longest unit for text in `source`; a service may take less of some languages."""
        return self.max_chars

    def check_setup(self) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Raise ConfigurationError when the backend cannot work as configured (a key that
        is not set); called before the first request, never in a dry run."""

    @abstractmethod
    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        """Translate each text; raise RequestFailed on failure."""

    def language_name(self, code: str) -> str:
        """The English name of a language, for prompts."""
        return self.languages.get(code).name

    def language_code(self, code: str, service: str) -> str:
        """How `service` (a deep-translator provider, `nllb`) spells a language code, from the
        table's `codes`; a code the table does not know is passed on as it is."""
        if code not in self.languages:
            return code
        return self.languages.get(code).codes.get(service, code)

    def price_per_char(self) -> float:
        price = self.options.price_per_million_chars
        return (self.default_price if price is None else price) / 1_000_000

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release clients or models; the default has nothing to release."""
