"""deep-translator providers (Google, DeepL, Microsoft, MyMemory, LibreTranslate) as a backend.

The library sends one text per request and leaves chunking, retries, concurrency and caching to
its caller; the engine supplies them. Its requests carry no timeout, so a hung provider holds a
sending thread until the connection drops.

Connections are kept: each sending thread has one `requests.Session` (one kept-alive connection
per host) and its own provider clients, built once per language pair (the library's clients are
not thread-safe, and Microsoft's asks for its language list when built). The library calls
`requests.get`/`post`, a new connection each time; its provider modules are pointed at the
thread's session instead (`_ThreadSessions`).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Literal, NamedTuple
from urllib.parse import urlencode, urlsplit

from pydantic import Field

from plugdata.core.languages import LATIN
from plugdata.core.redact import secret_from_env
from plugdata.errors import ConfigurationError, require
from plugdata.remote.retrying import (
    ROW,
    SETUP,
    TRANSIENT,
    Failure,
    WrongShape,
    connection_failure,
    describe_body,
    host_of,
    http_failure,
    parse_retry_after,
    shape_failure,
)
from plugdata.translate.backends.base import BackendOptions, RequestFailed, Translator


class Provider(NamedTuple):
    cls: str  # deep-translator class
    key_env: str | None  # environment variable holding the key
    key_required: bool  # a self-hosted LibreTranslate needs none
    price: float  # USD per million characters
    max_chars: int  # per request
    url: str  # deep-translator's BASE_URLS entry for the default server


PROVIDERS = {
    "google": Provider("GoogleTranslator", None, False, 0.0, 4500, "GOOGLE_TRANSLATE"),
    "mymemory": Provider("MyMemoryTranslator", None, False, 0.0, 450, "MYMEMORY"),
    "libre": Provider("LibreTranslator", "LIBRE_API_KEY", False, 0.0, 4500, "LIBRE_FREE"),
    "deepl": Provider("DeeplTranslator", "DEEPL_API_KEY", True, 25.0, 4500, "DEEPL_FREE"),
    "microsoft": Provider(
        "MicrosoftTranslator", "MICROSOFT_API_KEY", True, 10.0, 4500, "MICROSOFT_TRANSLATE"
    ),
}
# LibreTranslator insists on a key when it is built, and sends one only when it holds one:
# a placeholder satisfies the constructor and is cleared before any request.
_NO_KEY = "no-key"
# Google takes the text in the URL, where a letter outside Latin script grows six- to ninefold
# when percent-encoded: its 5,000 limit bites early for those languages.
_GOOGLE_NON_LATIN_CHARS = 1500


# The library's modules of the providers above, whose `requests` calls go through `_ThreadSessions`.
_PROVIDER_MODULES = ("google", "mymemory", "libre", "deepl", "microsoft")
_local = threading.local()  # the sending thread's session


def thread_session():
    """The calling thread's `requests.Session`: its connections stay open between requests.
    It reads the environment once, not at every request as requests does (proxies, a CA bundle,
    ~/.netrc: a third of a request's CPU, which bounds the rate at 64 requests in flight):
    proxies once per host (`proxies_for`), the CA bundle here; no provider uses ~/.netrc."""
    session = getattr(_local, "session", None)
    if session is None:
        import requests

        session = _local.session = requests.Session()
        session.trust_env = False
        session.verify = _ca_bundle()
    return session


def _ca_bundle() -> str:
    """The certificates requests would trust: the environment's bundle, else certifi's."""
    import certifi

    env = os.environ
    return env.get("REQUESTS_CA_BUNDLE") or env.get("CURL_CA_BUNDLE") or certifi.where()


def proxies_for(url: str) -> dict[str, str]:
    """The proxies the environment names for `url`'s host (none when `no_proxy` covers it),
    read once per sending thread and host."""
    import requests

    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    known = _local.__dict__.setdefault("proxies", {})
    if origin not in known:
        known[origin] = requests.utils.get_environ_proxies(origin)
    return known[origin]


def _request(method: str, url: str, kwargs: dict[str, Any]):
    """`method` of the thread's session, with the environment's proxies unless given."""
    session = thread_session()
    if not kwargs.get("proxies"):
        kwargs["proxies"] = proxies_for(url)
    return session.request(method, url, **kwargs)


_FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def _connections(url: str):
    """The calling thread's urllib3 pools (one kept connection per host), through the proxy the
    environment names for `url`. LibreTranslate's requests go this way: requests spends three
    times the CPU on each, and at 64 requests in flight that CPU is what limits the rate. Its
    certificates are requests' (certifi, or the environment's CA bundle)."""
    import urllib3

    proxies = proxies_for(url)
    proxy = proxies.get(urlsplit(url).scheme) or proxies.get("all")
    pools = _local.__dict__.setdefault("pools", {})
    if proxy not in pools:
        options = {"ca_certs": _ca_bundle(), "retries": False}
        pools[proxy] = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )
    return pools[proxy]


class _ThreadSessions:
    """Stands in for the `requests` module inside deep-translator's provider modules: `get` and
    `post` go through the calling thread's session; everything else (exceptions) is requests'."""

    def __getattr__(self, name: str) -> Any:
        import requests

        return getattr(requests, name)

    def get(self, url: str, **kwargs: Any):
        return _request("GET", url, kwargs)

    def post(self, url: str, **kwargs: Any):
        return _request("POST", url, kwargs)


def _keep_connections() -> None:
    import importlib

    for name in _PROVIDER_MODULES:
        module = importlib.import_module(f"deep_translator.{name}")
        if not isinstance(module.requests, _ThreadSessions):
            module.requests = _ThreadSessions()


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
        self.provider = PROVIDERS[options.provider]
        self.default_price, self.max_chars = self.provider.price, self.provider.max_chars
        self._clients = threading.local()  # (source, target) -> the thread's client

    @property
    def model(self) -> str:
        return self.options.provider

    @property
    def host(self) -> str:
        from deep_translator.constants import BASE_URLS

        return host_of(self.options.base_url or BASE_URLS[self.provider.url], self.model)

    def max_chars_for(self, source: str) -> int:
        script = self.languages.get(source).script
        if self.options.provider == "google" and script not in (None, LATIN):
            return _GOOGLE_NON_LATIN_CHARS
        return self.max_chars

    @property
    def _key_env(self) -> str | None:
        return self.options.api_key_env or self.provider.key_env

    def check_setup(self) -> None:
        env = self._key_env
        if self.provider.key_required and env and not secret_from_env(env):
            raise ConfigurationError(f"{self.who}: no API key: set ${env}")

    def _client(self, source: str, target: str):
        """The calling thread's client for this language pair, built at its first use."""
        clients = self._clients.__dict__
        if (source, target) not in clients:
            clients[source, target] = self._new_client(source, target)
        return clients[source, target]

    def _new_client(self, source: str, target: str):
        import deep_translator

        _keep_connections()
        provider = self.options.provider
        # Provider spellings of our codes (zh-CN, en-GB, ...) live in the language table.
        kwargs: dict = {
            "source": self.language_code(source, provider),
            "target": self.language_code(target, provider),
        }
        key = secret_from_env(self._key_env) if self._key_env else None
        if self._key_env:
            kwargs["api_key"] = key or _NO_KEY
        if provider == "libre" and self.options.base_url:
            kwargs["custom_url"] = self.options.base_url.rstrip("/") + "/"
        if provider == "microsoft" and self.options.region:
            kwargs["region"] = self.options.region
        try:  # an unsupported language surfaces here; Microsoft also asks for its languages
            client = getattr(deep_translator, self.provider.cls)(**kwargs)
        except _library_errors() as exc:
            raise RequestFailed(_failure(exc)) from None
        if not key and provider == "libre":
            client.api_key = ""  # falsy: no key is sent; a string: its 403 error can be built
        return client

    def translate_batch(self, texts: list[str], source: str, target: str) -> list[str]:
        client = self._client(source, target)
        own = self.options.provider == "libre" and not client._same_source_target()
        out = []
        for text in texts:
            try:
                result = self._libre(client, text) if own else client.translate(text)
            except _library_errors() as exc:
                raise RequestFailed(_failure(exc)) from None
            except WrongShape as exc:
                raise RequestFailed(shape_failure(exc, f"a {self.model} translation")) from None
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                # The library reads the answer without looking at its shape.
                what = WrongShape(f"unexpected content: {type(exc).__name__}")
                raise RequestFailed(shape_failure(what, f"a {self.model} translation")) from None
            if not isinstance(result, str) or not result.strip():
                raise RequestFailed(Failure("empty translation", TRANSIENT))
            out.append(result)
        return out

    def _libre(self, client, text: str) -> str:
        """LibreTranslate's /translate, sent here rather than by the library, which drops the
        status's Retry-After, sends no timeout and reads any JSON as an answer. The request is
        the library's (codes and key as it holds them), sent as a form: a long text does not
        fit in a URL."""
        form = {"q": text, "source": client._source, "target": client._target, "format": "text"}
        if client.api_key:
            form["api_key"] = client.api_key
        url = client._base_url + "translate"
        body = urlencode(form)
        response = _connections(url).request(
            "POST", url, body=body, headers=_FORM, timeout=self.options.timeout, retries=False
        )
        if response.status >= 400:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            raise RequestFailed(http_failure(response.status, wait))
        try:
            answer = json.loads(response.data)
        except ValueError:
            raise WrongShape(describe_body(response.data.decode("utf-8", "replace"))) from None
        translated = answer.get("translatedText") if isinstance(answer, dict) else None
        if not isinstance(translated, str):
            raise WrongShape("JSON without translatedText")
        return translated


def _library_errors() -> tuple[type[Exception], ...]:
    import requests
    import urllib3
    from deep_translator import exceptions as dt

    return (
        requests.RequestException,
        urllib3.exceptions.HTTPError,  # our own LibreTranslate requests
        dt.BaseError,  # the library's own: language, payload, length, nothing found
        dt.ServerException,
        dt.AuthorizationException,
        dt.TooManyRequests,
        dt.RequestError,
    )


def _failure(exc: Exception) -> Failure:
    """What an error of deep-translator (or of requests, below it, or of urllib3, which sends
    LibreTranslate's requests) says about the request."""
    import requests
    import urllib3
    from deep_translator import exceptions as dt

    if isinstance(exc, requests.JSONDecodeError):  # a 200 whose body is not JSON
        return shape_failure(WrongShape("truncated or invalid JSON"), "a translation")
    if isinstance(exc, requests.RequestException):
        if (found := connection_failure(exc)) is not None:
            return found
        sent = not isinstance(exc, requests.ConnectTimeout)
        return Failure(type(exc).__name__, TRANSIENT, sent=sent)
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return _transport_failure(exc)
    if isinstance(exc, dt.ServerException):
        # The library keeps only a message per status; the status decides the kind.
        message = str(exc.args[0]) if exc.args else ""
        status = {m: s for s, m in dt.ServerException.errors.items()}.get(message)
        if status is None:  # "API server error": a status the library has no name for
            return Failure(message or "server error", TRANSIENT)
        return http_failure(status)
    if isinstance(exc, dt.AuthorizationException):
        return http_failure(403)
    setup = dt.LanguageNotSupportedException | dt.InvalidSourceOrTargetLanguage | dt.ApiKeyException
    if isinstance(exc, setup):
        return Failure(f"{type(exc).__name__}: {exc}", SETUP, sent=False)
    transient = dt.TooManyRequests | dt.RequestError | dt.TranslationNotFound
    if isinstance(exc, transient | dt.ElementNotFoundInGetRequest):
        return Failure(type(exc).__name__, TRANSIENT)
    return Failure(type(exc).__name__, ROW, sent=False)  # text too long, empty payload


def _transport_failure(exc: Exception) -> Failure:
    """A urllib3 error: named as requests names it (as messages and tests know them); a
    connection that was never made sent nothing."""
    from urllib3 import exceptions as u3

    if (found := connection_failure(exc)) is not None:
        return found
    if isinstance(exc, u3.ReadTimeoutError):
        return Failure("ReadTimeout", TRANSIENT)
    if isinstance(exc, u3.ConnectTimeoutError):  # NewConnectionError among them
        name = "ConnectionError" if isinstance(exc, u3.NewConnectionError) else "ConnectTimeout"
        return Failure(name, TRANSIENT, sent=False)
    return Failure("ConnectionError", TRANSIENT)
