"""Sentiment of short customer texts (survey comments, CSM notes) in English and Turkish.

Each text gets a score in [-1, 1] (negative .. positive; about 0 is neutral) and its
language. Nothing is downloaded at run time:

- **English**: VADER (``vaderSentiment==3.3.2``, MIT licence), a rule-based scorer whose
  lexicon ships inside the wheel. It handles negation ("not bad"), boosters ("very"),
  "but" and exclamation marks; its ``compound`` score is already in [-1, 1].
- **Turkish**: the project's own lexicon (``features/lexicons/tr_sentiment.tsv``) and the
  same arithmetic as VADER (sum of word valences, normalised by ``x / sqrt(x^2 + 15)``), with
  Turkish rules: lower-casing the Turkish way (``İ`` -> ``i``, ``I`` -> ``ı``), stems matched
  with any suffix, a verb's negative suffix (``beğenmedik``, ``çalışmıyor``) or a following
  ``değil`` / ``yok`` / negated verb (``fena değil``, ``sorun yaşamadık``) flipping a word, and
  ``-siz/-suz`` ("without") flipping a noun.

Limits (docs/text_and_referrals.md): lexicon scorers miss sarcasm, domain words they do not
list, and long-distance negation; the Turkish lexicon is small (about 90 stems) and written for
customer-success comments. They are transparent and fast, which a CSM-facing reason needs.

>>> round(score_text("The product is not bad"), 2) > 0
True
>>> score_text("Fena değil") > 0 > score_text("Hiç memnun değiliz")
True
>>> detect_language("Destek ekibi çok yavaş")
'tr'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np

LANGUAGES = ("auto", "en", "tr")
NEGATIVE_BELOW = -0.05  # VADER's convention: compound <= -0.05 is negative, >= 0.05 positive
_NORMALISE = 15.0  # VADER's alpha in x / sqrt(x^2 + alpha)
_NEGATE = -0.74  # VADER's N_SCALAR: a negated word keeps about three quarters of its weight
_BOOST = 0.293  # VADER's B_INCR

_TR_LETTERS = set("çğıöşüÇĞİÖŞÜ")
_TR_WORDS = {
    "ve", "bir", "bu", "çok", "cok", "için", "icin", "ama", "değil", "degil", "ile", "da", "de", "mi",
    "gibi", "daha", "yok", "var", "hiç", "hic", "biz", "ben", "olarak", "ürün", "urun", "destek",
    "ekibi", "fakat", "ancak", "sonra", "şu", "su", "her", "şey", "sey", "kadar", "artık", "artik",
}  # fmt: skip
_EN_WORDS = {
    "the", "and", "is", "to", "we", "it", "not", "of", "a", "for", "this", "very", "but", "with",
    "are", "was", "our", "you", "they", "have", "has", "be", "on", "in", "too", "so", "no", "team",
}  # fmt: skip
_FOLD = str.maketrans("çğıöşü", "cgiosu")
_BOOSTERS = {"cok": 1, "gercekten": 1, "oldukca": 1, "asiri": 1, "son": 0, "derece": 1, "en": 1, "hic": 1}
_DAMPENERS = {"biraz": 1, "pek": 1, "kismen": 1}
_CONTRAST = {"ama", "fakat", "ancak", "lakin", "yine"}
# Negative verb suffixes (folded): -me/-ma, -mez/-maz, -medi/-madı, -miyor, -memiş, -meyecek, ...
_NEG_SUFFIX = re.compile(r"^m[ae](?:$|z|di|mis|y[ae]c[ae]k|m$|miz|m[ie]$|yiz|sin|den|dan|dik|dim|din)|^m[iu]yor")
_NEG_VERB = re.compile(r"^\w{2,}?(?:m[iu]yor|m[ae]di|m[ae]z|m[ae]y[ae]c[ae]k|m[ae]mis|amiyor|emiyor)")
_WITHOUT = ("siz", "suz")
_TOKEN = re.compile(r"[a-z0-9]+")


def turkish_lower(text: str) -> str:
    """Lower-case the Turkish way: ``İ`` -> ``i`` and ``I`` -> ``ı`` (Python's ``lower`` gets both wrong)."""
    return text.replace("İ", "i").replace("I", "ı").lower().replace("\u0307", "")


def fold(text: str) -> str:
    """Turkish lower case without the Turkish letters (``çğıöşü`` -> ``cgiosu``): how stems are matched."""
    return turkish_lower(text).translate(_FOLD)


def normalise(text: str) -> str:
    """Folded words separated by single spaces, punctuation dropped (risk phrases match on this)."""
    return " ".join(_TOKEN.findall(fold(text)))


def detect_language(text: str) -> str:
    """``"tr"`` for text with Turkish letters or more Turkish than English stopwords, else ``"en"``.

    Without stopwords either way, words of the Turkish lexicon are weighed against VADER's.
    """
    if any(ch in _TR_LETTERS for ch in text):
        return "tr"
    words = re.findall(r"[a-z]+", text.lower())
    tr = sum(w in _TR_WORDS for w in words)
    en = sum(w in _EN_WORDS for w in words)
    if tr == en:  # no stopwords either way ("harika, memnunlar"): Turkish lexicon words that VADER does not know
        english = _vader().lexicon
        tr = sum(_lookup(w) is not None and w not in english for w in words)
        en = sum(w in english for w in words)
    return "tr" if tr > en else "en"


@dataclass(frozen=True)
class _Entry:
    stem: str
    score: float
    kind: str  # w word stem, v verb stem, x exact word
    negated: float | None


@lru_cache(maxsize=1)
def _lexicon() -> dict[str, list[_Entry]]:
    """The Turkish lexicon by the first three folded letters of each stem, longest stems first."""
    text = resources.files("features").joinpath("lexicons/tr_sentiment.tsv").read_text(encoding="utf-8")
    index: dict[str, list[_Entry]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        neg = float(parts[3]) if len(parts) > 3 and parts[3] else None
        entry = _Entry(fold(parts[0]), float(parts[1]), parts[2], neg)
        index.setdefault(entry.stem[:3], []).append(entry)
    for entries in index.values():
        entries.sort(key=lambda e: -len(e.stem))
    return index


def _lookup(token: str) -> tuple[_Entry, str] | None:
    for entry in _lexicon().get(token[:3], ()):
        if entry.kind == "x":
            if token == entry.stem:
                return entry, ""
        elif token.startswith(entry.stem):
            return entry, token[len(entry.stem) :]
    return None


def _is_negator(token: str) -> bool:
    return token.startswith("degil") or token in ("yok", "yoktu", "yoktur") or bool(_NEG_VERB.match(token))


def score_turkish(text: str) -> float:
    """A Turkish text's sentiment in [-1, 1] from the project's lexicon (0 when no word is known)."""
    tokens = _TOKEN.findall(fold(text))
    valences: list[float] = []
    polar: list[int] = []
    for i, token in enumerate(tokens):
        found = _lookup(token)
        if found is None or found[0].score == 0:
            valences.append(0.0)
            continue
        entry, suffix = found
        value = entry.score
        if entry.kind == "v" and _NEG_SUFFIX.match(suffix):
            value = entry.negated if entry.negated is not None else value * _NEGATE
        elif entry.kind == "w" and suffix.startswith(_WITHOUT):
            value *= _NEGATE
        for prev in tokens[max(0, i - 2) : i]:
            if prev in _BOOSTERS:
                value += math.copysign(_BOOST, value)
            elif prev in _DAMPENERS:
                value -= math.copysign(_BOOST, value)
        # "fena değil", "memnun kalmadık", "sorun yaşamadık": a negator right after the word.
        for nxt in tokens[i + 1 : i + 3]:
            if _lookup(nxt) is not None and not _is_negator(nxt):
                break
            if _is_negator(nxt):
                value *= _NEGATE
                break
        valences.append(value)
        polar.append(i)
    contrast = [i for i, t in enumerate(tokens) if t in _CONTRAST]
    if contrast:  # "ürün iyi ama destek berbat": what follows "ama" weighs more (as VADER's "but")
        at = contrast[-1]
        valences = [v * (0.5 if i < at else 1.5) for i, v in enumerate(valences)]
    total = sum(valences)
    return total / math.sqrt(total * total + _NORMALISE) if total else 0.0


# Customer-success words VADER's general lexicon lacks (it scores "We are evaluating a competitor"
# and "Too slow" as 0 or positive); valences on VADER's -4..4 scale.
_EN_DOMAIN = {"slow": -1.5, "expensive": -1.5, "cancel": -1.5, "competitor": -1.2, "escalation": -1.5, "forever": -1.0}


@lru_cache(maxsize=1)
def _vader():  # type: ignore[no-untyped-def]
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    analyzer.lexicon.update(_EN_DOMAIN)
    return analyzer


def score_english(text: str) -> float:
    """VADER's compound score of an English text, in [-1, 1]."""
    return float(_vader().polarity_scores(text)["compound"])


def score_text(text: str | None, language: str = "auto") -> float | None:
    """Sentiment in [-1, 1] of one text (None for a blank one); ``language``: auto, en or tr."""
    if language not in LANGUAGES:
        raise ValueError(f"text language must be one of {LANGUAGES}, not {language!r}")
    if text is None or not str(text).strip():
        return None
    text = str(text)
    lang = detect_language(text) if language == "auto" else language
    return score_turkish(text) if lang == "tr" else score_english(text)


def score_texts(texts: Iterable[str | None], language: str = "auto") -> np.ndarray:
    """:func:`score_text` of many texts (NaN for blanks); each distinct text is scored once."""
    values = list(texts)
    cache: dict[str, float] = {}
    out = np.full(len(values), np.nan)
    for i, text in enumerate(values):
        if text is None or text != text:  # None, NaN or pd.NA-like
            continue
        key = str(text)
        if key not in cache:
            score = score_text(key, language)
            cache[key] = np.nan if score is None else score
        out[i] = cache[key]
    return out


def _phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A risk phrase on normalised text: whole words, the last one with any suffix.

    Turkish softens a final p/ç/t/k before a vowel (``rakip`` -> ``rakibe``), so the last
    letter also matches its soft form.
    """
    words = normalise(phrase).split()
    if not words:
        raise ValueError(f"risk phrase {phrase!r} has no words")
    *head, last = words
    soft = {"p": "[pb]", "c": "c", "t": "[td]", "k": "[kg]"}
    tail = re.escape(last[:-1]) + soft.get(last[-1], re.escape(last[-1])) if len(last) > 2 else re.escape(last)
    return re.compile(r"\b" + "".join(re.escape(w) + " " for w in head) + tail + r"\w*")


@lru_cache(maxsize=64)
def _patterns(phrases: tuple[str, ...]) -> tuple[re.Pattern[str], ...]:
    return tuple(_phrase_pattern(p) for p in phrases)


def risk_hits(text: str | None, phrases: Sequence[str]) -> int:
    """How many times any of ``phrases`` occurs in ``text`` (normalised; Turkish suffixes allowed)."""
    if text is None or text != text or not str(text).strip():
        return 0
    norm = normalise(str(text))
    return sum(len(p.findall(norm)) for p in _patterns(tuple(phrases)))
