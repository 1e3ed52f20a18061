"""Every sentence of the account's story (changes, what-if, alerts), in English and Turkish, as data.

Templates use ``str.format`` fields; :func:`say` fills one in a language. Numbers and dates are
written the way each language writes them (Turkish: decimal comma, day-month names).
"""

from __future__ import annotations

import math
from datetime import date

from features.signals import SIGNALS_BY_NAME, format_value

TEXTS: dict[str, dict[str, str]] = {
    "health_fell": {
        "en": "Health fell {points} points since {since}",
        "tr": "Sağlık skoru {since} tarihinden bu yana {points} puan düştü",
    },
    "health_rose": {
        "en": "Health rose {points} points since {since}",
        "tr": "Sağlık skoru {since} tarihinden bu yana {points} puan arttı",
    },
    "health_same": {
        "en": "Health did not change since {since}",
        "tr": "Sağlık skoru {since} tarihinden bu yana değişmedi",
    },
    "churn_rose": {
        "en": "Churn risk rose from {before} to {after}",
        "tr": "Kayıp riski {before} seviyesinden {after} seviyesine yükseldi",
    },
    "churn_fell": {
        "en": "Churn risk fell from {before} to {after}",
        "tr": "Kayıp riski {before} seviyesinden {after} seviyesine düştü",
    },
    "churn_same": {"en": "Churn risk stayed at {after}", "tr": "Kayıp riski {after} seviyesinde kaldı"},
    "mostly": {"en": "mostly {reasons}", "tr": "en çok etkileyenler: {reasons}"},
    "model_update": {"en": "the model update", "tr": "model güncellemesi"},
    "manual_rule": {"en": "a manual rule ({rule})", "tr": "elle konan bir kural ({rule})"},
    "value_change": {"en": "{label} {before} -> {after}", "tr": "{label} {before} -> {after}"},
    "no_data": {"en": "no data", "tr": "veri yok"},
    "whatif_reach": {"en": "{changes}: {score}, {band}", "tr": "{changes} olursa: {score}, {band}"},
    "whatif_green": {
        "en": "Already in the best band ({score}, {band})",
        "tr": "Zaten en iyi bantta ({score}, {band})",
    },
    "whatif_none": {
        "en": "No change a CSM can make reaches the next band; the most it can reach is {score}",
        "tr": "CSM'in yapabileceği değişikliklerle bir sonraki banda ulaşılamıyor; en fazla {score}",
    },
    "whatif_step": {"en": "{label} to {target}", "tr": "{label} {target}"},
    "and": {"en": " and ", "tr": " ve "},
    "comma": {"en": ", ", "tr": ", "},
    "alert_red": {
        "en": "{account} entered red ({score}) since {since}",
        "tr": "{account} {since} tarihinden bu yana kırmızıya girdi ({score})",
    },
    "alert_fell": {
        "en": "{account} fell {points} points since {since} ({score})",
        "tr": "{account} {since} tarihinden bu yana {points} puan düştü ({score})",
    },
}
COMPONENT_NAMES: dict[str, dict[str, str]] = {
    "usage": {"en": "usage", "tr": "kullanım"},
    "support": {"en": "support", "tr": "destek"},
    "sentiment": {"en": "sentiment", "tr": "memnuniyet"},
    "financial": {"en": "financial", "tr": "finansal"},
    "relationship": {"en": "relationship", "tr": "ilişki"},
    "override": {"en": "manual rule", "tr": "elle konan kural"},
}
BAND_NAMES: dict[str, dict[str, str]] = {
    "red": {"en": "red", "tr": "kırmızı"},
    "yellow": {"en": "yellow", "tr": "sarı"},
    "green": {"en": "green", "tr": "yeşil"},
}
MONTHS = {
    "en": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    "tr": (
        "Ocak",
        "Şubat",
        "Mart",
        "Nisan",
        "Mayıs",
        "Haziran",
        "Temmuz",
        "Ağustos",
        "Eylül",
        "Ekim",
        "Kasım",
        "Aralık",
    ),
}


def say(key: str, lang: str, **fields: object) -> str:
    return TEXTS[key][lang].format(**fields)


def listing(items: list[str], lang: str) -> str:
    """ "a, b and c" / "a, b ve c"."""
    if len(items) < 2:
        return "".join(items)
    return say("comma", lang).join(items[:-1]) + say("and", lang) + items[-1]


def day(value: date, lang: str) -> str:
    """1 Nov 2026 / 1 Kasım 2026."""
    return f"{value.day} {MONTHS[lang][value.month - 1]} {value.year}"


def number(value: float, lang: str, digits: int = 1) -> str:
    text = f"{value:,.{digits}f}"
    if digits and text.rstrip("0").endswith("."):
        text = text.rstrip("0").rstrip(".")
    elif digits:
        text = text.rstrip("0")
    text = text[1:] if text.startswith("-") and not text.strip("-0.,") else text  # -0.04 is "0", not "-0"
    return text.replace(",", "_").replace(".", ",").replace("_", ".") if lang == "tr" else text


def percent(value: float, lang: str) -> str:
    text = number(value * 100, lang, 1)
    return f"%{text}" if lang == "tr" else f"{text}%"


def signal_value(name: str, value: float | None, lang: str) -> str:
    """A signal's value as the catalog writes it (units, decimals), or "no data"."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return say("no_data", lang)
    signal = SIGNALS_BY_NAME.get(name)
    return format_value(value, signal.unit, lang) if signal else number(value, lang)


def label(name: str, lang: str) -> str:
    signal = SIGNALS_BY_NAME.get(name)
    return signal.label[lang] if signal else name


def component(name: str, lang: str) -> str:
    return COMPONENT_NAMES.get(name, {}).get(lang, name)


def capital(text: str, lang: str) -> str:
    """First letter upper case, the Turkish way in Turkish (i -> İ)."""
    if not text:
        return text
    first = "İ" if lang == "tr" and text[0] == "i" else text[0].upper()
    return first + text[1:]


def band(name: str | None, lang: str) -> str:
    return BAND_NAMES[name][lang] if name in BAND_NAMES else "-"
