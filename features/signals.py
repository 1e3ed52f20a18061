"""The signal catalog: every account signal declared once, as data.

Each :class:`Signal` says what it measures (group, description, unit), which way is
healthy (``direction``: +1 higher is healthier, -1 lower is healthier, 0 context only),
whether a CSM can act on it, which tables and columns it needs, and how to say it in
plain language in English and Turkish, with a suggested action for actionable signals.
The builders (:mod:`features.builders`) and the pandas oracle (``tests/pandas_oracle.py``)
compute exactly these signals, in this order.

>>> SIGNALS_BY_NAME["active_users_trend"].sentence(-0.38)
'Active users fell 38% over the last 30 days'
>>> SIGNALS_BY_NAME["active_users_trend"].sentence(-0.38, lang="tr")
'Aktif kullanıcı sayısı son 30 günde %38 azaldı'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol, TypeVar

from features.config import FeatureConfig

SIGNALS_VERSION = "1.0"
LANGUAGES = ("en", "tr")
GROUPS = ("usage", "support", "sentiment", "financial", "relationship", "engagement")

_TREND_WORDS = {"en": ("rose", "fell", "did not change"), "tr": ("arttı", "azaldı", "değişmedi")}
_NO_DATA = {"en": "{label}: no data", "tr": "{label}: veri yok"}

Requirement = tuple[str, tuple[str, ...]]  # (table, columns)


@dataclass(frozen=True)
class Signal:
    """One account signal: what it is, what it needs, and how to explain it."""

    name: str
    group: str
    description: str
    unit: str  # users, days, share (0-1), ratio (relative change), count, hours, score, currency
    direction: int  # +1 higher is healthier, -1 lower is healthier, 0 context
    actionable: bool
    requires: tuple[Requirement, ...]
    label: Mapping[str, str] = field(hash=False)
    template: Mapping[str, str] = field(hash=False)
    action: Mapping[str, str] | None = field(default=None, hash=False)
    # A count over a long window or all history: its value is capped by how much event history the
    # account has in the data, so its distribution moves as the data ages, whatever the accounts do.
    # Drift monitoring (serving.drift) shows its PSI but does not alarm on it.
    grows_with_history: bool = False

    def sentence(self, value: float | None, lang: str = "en") -> str:
        """The signal's value in a plain-language sentence, in ``lang`` ("en" or "tr")."""
        _check_lang(lang)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return _NO_DATA[lang].format(label=self.label[lang])
        up, down, flat = _TREND_WORDS[lang]
        return self.template[lang].format(
            value=_format(value, self.unit, lang),
            pct=_number(abs(value) * 100, 0, lang),
            abs=_format(abs(value), self.unit, lang),
            trend=up if value > 0 else down if value < 0 else flat,
        )

    def suggested_action(self, lang: str = "en") -> str | None:
        """What a CSM can do about a bad value, or None for signals one cannot act on."""
        _check_lang(lang)
        return None if self.action is None else self.action[lang]

    def missing(self, present: Mapping[str, Sequence[str]]) -> str | None:
        """Why this signal cannot be computed from ``present`` tables/columns, or None."""
        return missing_requirement(self.requires, present)


# Tables derived while loading, not read from files: why each may be absent.
DERIVED_TABLES = {"texts": "no comment or note text (surveys.comment, csm_inputs.note, support_tickets.description)"}


def missing_requirement(requires: Sequence[Requirement], present: Mapping[str, Sequence[str]]) -> str | None:
    """The first table or column of ``requires`` absent from ``present`` (table -> columns), or None."""
    for table, columns in requires:
        if table not in present:
            return DERIVED_TABLES.get(table, f"table {table} is absent")
        absent = [c for c in columns if c not in present[table]]
        if absent:
            return f"{table} has no column {', '.join(absent)}"
    return None


@dataclass(frozen=True)
class SkippedSignal:
    """A signal (or KPI) left out of a run, and why (a missing table or column)."""

    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.name}: {self.reason}"


def _check_lang(lang: str) -> None:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not supported; use one of {LANGUAGES}")


def _number(x: float, digits: int, lang: str) -> str:
    text = f"{x:,.{digits}f}"
    if text.startswith("-") and not text.strip("-0.,"):
        text = text[1:]  # -0.2 days rounds to "0", not "-0"
    if lang == "tr":  # Turkish: dot for thousands, comma for decimals
        text = text.replace(",", "_").replace(".", ",").replace("_", ".")
    return text


def format_value(value: float, unit: str, lang: str = "en") -> str:
    """A value as the sentences write it: its unit's decimals, percent sign and the language's separators."""
    _check_lang(lang)
    return _format(value, unit, lang)


def _format(value: float, unit: str, lang: str) -> str:
    if unit == "share":
        return ("%" if lang == "tr" else "") + _number(value * 100, 0, lang) + ("" if lang == "tr" else "%")
    if unit == "polarity":
        return _number(value, 2, lang)
    if unit in ("hours", "score", "points"):
        return _number(value, 1, lang)
    if unit == "currency":
        return _number(value, 0, lang)
    if unit == "ratio":
        return ("%" if lang == "tr" else "") + _number(value * 100, 0, lang) + ("" if lang == "tr" else "%")
    digits = 0 if float(value).is_integer() or unit == "days" else 1
    return _number(value, digits, lang)


_USAGE: Requirement = ("usage_events", ("account_id", "user_id", "timestamp", "event"))
_ACCOUNTS: Requirement = ("accounts", ("account_id", "created_at"))
_TICKETS: Requirement = ("support_tickets", ("ticket_id", "account_id", "opened_at"))
_SURVEYS: Requirement = ("surveys", ("account_id", "answered_at", "kind", "score"))
_SUBS: Requirement = ("subscriptions", ("account_id", "start_date", "end_date", "arr"))
_INVOICES: Requirement = ("invoices", ("invoice_id", "account_id", "due_at", "amount"))
_CSM: Requirement = ("csm_inputs", ("account_id", "recorded_at", "sentiment"))
# Scored comments, notes and ticket text (features.texts): one row per non-blank text.
_TEXTS: Requirement = ("texts", ("account_id", "at", "sentiment"))
_REFERRALS: Requirement = ("referrals", ("referrer_account_id", "referred_at"))


def _with(req: Requirement, *extra: str) -> Requirement:
    return (req[0], req[1] + extra)


def _sig(
    name: str,
    group: str,
    unit: str,
    direction: int,
    requires: tuple[Requirement, ...],
    label: tuple[str, str],
    template: tuple[str, str],
    description: str,
    action: tuple[str, str] | None = None,
    grows_with_history: bool = False,
) -> Signal:
    return Signal(
        name=name,
        group=group,
        description=description,
        unit=unit,
        direction=direction,
        actionable=action is not None,
        requires=requires,
        label=dict(zip(LANGUAGES, label, strict=True)),
        template=dict(zip(LANGUAGES, template, strict=True)),
        action=None if action is None else dict(zip(LANGUAGES, action, strict=True)),
        grows_with_history=grows_with_history,
    )


_ADOPTION = (
    "Run an adoption session with the account's users",
    "Hesabın kullanıcılarıyla bir benimseme (adoption) oturumu düzenleyin",
)
_REENGAGE = (
    "Reach out to the main contact and review how the team uses the product",
    "Ana kişiye ulaşın ve ekibin ürünü nasıl kullandığını birlikte gözden geçirin",
)
_ESCALATE = (
    "Escalate the open tickets with support and tell the customer when they will be fixed",
    "Açık talepleri destek ekibine eskale edin ve müşteriye ne zaman çözüleceğini bildirin",
)
_ASK = (
    "Call the contact and ask what would make it better",
    "Kişiyi arayın ve neyin daha iyi olmasını sağlayacağını sorun",
)
_READ = (
    "Read the recent comments and call the contact about what they raise",
    "Son yorumları okuyun ve dile getirilen konular için kişiyi arayın",
)

# window name -> (label en, label tr, sentence tail en, sentence head tr, description tail)
_LONG_WINDOWS = {
    "180d": ("180 days", "180 gün", "in the last 180 days", "Son 180 günde", "in the 180 days before as_of"),
    "365d": ("365 days", "365 gün", "in the last 365 days", "Son 365 günde", "in the 365 days before as_of"),
    "all": ("all history", "tüm geçmiş", "so far", "Şimdiye kadar", "over all history before as_of"),
}

SIGNALS: tuple[Signal, ...] = (
    # --- usage ------------------------------------------------------------------------------
    _sig(
        "active_users_7d",
        "usage",
        "users",
        +1,
        (_USAGE,),
        ("Active users (7 days)", "Aktif kullanıcı (7 gün)"),
        ("{value} users were active in the last 7 days", "Son 7 günde {value} kullanıcı aktifti"),
        "Distinct users with any event in the 7 days before as_of.",
        _REENGAGE,
    ),
    _sig(
        "active_users_30d",
        "usage",
        "users",
        +1,
        (_USAGE,),
        ("Active users (30 days)", "Aktif kullanıcı (30 gün)"),
        ("{value} users were active in the last 30 days", "Son 30 günde {value} kullanıcı aktifti"),
        "Distinct users with any event in the 30 days before as_of.",
        _REENGAGE,
    ),
    _sig(
        "active_users_90d",
        "usage",
        "users",
        +1,
        (_USAGE,),
        ("Active users (90 days)", "Aktif kullanıcı (90 gün)"),
        ("{value} users were active in the last 90 days", "Son 90 günde {value} kullanıcı aktifti"),
        "Distinct users with any event in the 90 days before as_of.",
        _REENGAGE,
    ),
    _sig(
        "active_users_trend",
        "usage",
        "ratio",
        +1,
        (_USAGE,),
        ("Active-user trend", "Aktif kullanıcı eğilimi"),
        (
            "Active users {trend} {pct}% over the last 30 days",
            "Aktif kullanıcı sayısı son 30 günde %{pct} {trend}",
        ),
        "Relative change of active users, last 30 days vs the 30 days before; "
        "null when nobody was active in the earlier window.",
        _REENGAGE,
    ),
    _sig(
        "licence_utilisation",
        "usage",
        "share",
        +1,
        (_USAGE, _with(_SUBS, "seats")),
        ("Licence utilisation", "Lisans kullanım oranı"),
        (
            "{value} of the licensed seats were used in the last 30 days",
            "Son 30 günde lisanslı koltukların {value} kadarı kullanıldı",
        ),
        "Active users (30 days) / seats of the subscriptions active at as_of; null without "
        "an active subscription with seats.",
        _ADOPTION,
    ),
    _sig(
        "active_days_30d",
        "usage",
        "days",
        +1,
        (_USAGE,),
        ("Active days (30 days)", "Aktif gün (30 gün)"),
        (
            "The product was used on {value} of the last 30 days",
            "Ürün son 30 günün {value} gününde kullanıldı",
        ),
        "Distinct UTC calendar days with any event in the 30 days before as_of.",
        _REENGAGE,
    ),
    _sig(
        "features_used_30d",
        "usage",
        "count",
        +1,
        (_USAGE,),
        ("Features used (30 days)", "Kullanılan özellik (30 gün)"),
        (
            "{value} different features were used in the last 30 days",
            "Son 30 günde {value} farklı özellik kullanıldı",
        ),
        "Distinct event types in the 30 days before as_of (depth of use).",
        _ADOPTION,
    ),
    _sig(
        "key_feature_adoption",
        "usage",
        "share",
        +1,
        (_USAGE,),
        ("Key-feature adoption", "Temel özellik benimsemesi"),
        (
            "{value} of the key features were used in the last 30 days",
            "Temel özelliklerin {value} kadarı son 30 günde kullanıldı",
        ),
        "Share of the configured key events used in the 30 days before as_of.",
        _ADOPTION,
    ),
    _sig(
        "key_feature_users_share",
        "usage",
        "share",
        +1,
        (_USAGE,),
        ("Users of key features", "Temel özellik kullanıcıları"),
        (
            "{value} of active users used a key feature in the last 30 days",
            "Aktif kullanıcıların {value} kadarı son 30 günde temel bir özellik kullandı",
        ),
        "Share of the 30-day active users with a key event in those 30 days; null with no active users.",
        _ADOPTION,
    ),
    _sig(
        "days_since_last_activity",
        "usage",
        "days",
        -1,
        (_USAGE,),
        ("Days since last activity", "Son etkinlikten bu yana geçen gün"),
        ("Nobody has used the product for {value} days", "Ürün {value} gündür kullanılmadı"),
        "Days from the last event before as_of to as_of; null without any event.",
        _REENGAGE,
    ),
    _sig(
        "time_to_value_days",
        "usage",
        "days",
        -1,
        (_USAGE, _ACCOUNTS),
        ("Time to value", "Değere ulaşma süresi"),
        (
            "The first key feature was used {value} days after signup",
            "İlk temel özellik kayıttan {value} gün sonra kullanıldı",
        ),
        "Days from created_at to the first key event, if that event is before as_of.",
    ),
    # --- usage: long-window recency, frequency and monetary value -----------------------------
    *(
        _sig(
            f"events_{w}",
            "usage",
            "count",
            +1,
            (_USAGE,),
            (f"Events ({words[0]})", f"Etkinlik ({words[1]})"),
            (f"{{value}} events were recorded {words[2]}", f"{words[3]} {{value}} etkinlik kaydedildi"),
            f"Usage events (rows, duplicates of one event_id counted once) {words[4]}.",
            _REENGAGE,
            grows_with_history=True,
        )
        for w, words in _LONG_WINDOWS.items()
    ),
    *(
        _sig(
            f"active_weeks_{w}",
            "usage",
            "count",
            +1,
            (_USAGE,),
            (f"Active weeks ({words[0]})", f"Aktif hafta ({words[1]})"),
            (f"The product was used in {{value}} weeks {words[2]}", f"Ürün {words[3]} {{value}} haftada kullanıldı"),
            f"Distinct UTC weeks (Monday to Sunday) with any event {words[4]}.",
            _REENGAGE,
            grows_with_history=True,
        )
        for w, words in _LONG_WINDOWS.items()
    ),
    _sig(
        "mean_gap_days",
        "usage",
        "days",
        -1,
        (_USAGE,),
        ("Mean gap between active days", "Aktif günler arası ortalama ara"),
        ("The account comes back every {value} days on average", "Hesap ortalama {value} günde bir geri geliyor"),
        "Mean days between consecutive distinct UTC days with an event, over all history before "
        "as_of; null with fewer than two active days.",
        _REENGAGE,
    ),
    _sig(
        "mean_gap_change_days",
        "usage",
        "days",
        -1,
        (_USAGE,),
        ("Change of the gap between active days", "Aktif günler arası aradaki değişim"),
        (
            "The gap between active days {trend} by {abs} days over the last 90 days",
            "Aktif günler arasındaki ara son 90 günde {abs} gün {trend}",
        ),
        "Mean gap between active days in the 90 days before as_of minus the mean gap over all "
        "history; null when either has fewer than two active days.",
        _REENGAGE,
    ),
    *(
        _sig(
            f"quantity_{w}",
            "usage",
            "count",
            +1,
            (_with(_USAGE, "quantity"),),
            (f"Quantity ({words[0]})", f"Miktar ({words[1]})"),
            (f"{{value}} units were used {words[2]}", f"{words[3]} {{value}} birim kullanıldı"),
            f"Sum of usage_events.quantity {words[4]} (null quantities count 0).",
            grows_with_history=True,
        )
        for w, words in _LONG_WINDOWS.items()
    ),
    # --- support ----------------------------------------------------------------------------
    _sig(
        "tickets_30d",
        "support",
        "count",
        -1,
        (_TICKETS,),
        ("Tickets (30 days)", "Destek talebi (30 gün)"),
        (
            "{value} support tickets were opened in the last 30 days",
            "Son 30 günde {value} destek talebi açıldı",
        ),
        "Tickets opened in the 30 days before as_of.",
    ),
    _sig(
        "tickets_90d",
        "support",
        "count",
        -1,
        (_TICKETS,),
        ("Tickets (90 days)", "Destek talebi (90 gün)"),
        (
            "{value} support tickets were opened in the last 90 days",
            "Son 90 günde {value} destek talebi açıldı",
        ),
        "Tickets opened in the 90 days before as_of.",
    ),
    _sig(
        "open_tickets",
        "support",
        "count",
        -1,
        (_with(_TICKETS, "resolved_at"),),
        ("Open tickets", "Açık talepler"),
        ("{value} support tickets are open", "{value} destek talebi açık"),
        "Tickets opened before as_of and not resolved before as_of.",
        _ESCALATE,
    ),
    _sig(
        "open_high_priority_tickets",
        "support",
        "count",
        -1,
        (_with(_TICKETS, "resolved_at", "priority"),),
        ("Unresolved high-priority tickets", "Çözülmemiş yüksek öncelikli talepler"),
        (
            "{value} high-priority tickets are unresolved",
            "{value} yüksek öncelikli talep çözülmedi",
        ),
        "Open tickets with priority high or urgent.",
        _ESCALATE,
    ),
    _sig(
        "avg_handle_time_hours",
        "support",
        "hours",
        -1,
        (_with(_TICKETS, "resolved_at"),),
        ("Average handle time", "Ortalama çözüm süresi"),
        (
            "Tickets took {value} hours on average to resolve",
            "Talepler ortalama {value} saatte çözüldü",
        ),
        "Mean hours from opened_at to resolved_at over tickets resolved in the support "
        "window before as_of; null when none.",
    ),
    _sig(
        "first_contact_resolution_rate",
        "support",
        "share",
        +1,
        (_with(_TICKETS, "resolved_at", "contacts"),),
        ("First-contact resolution", "İlk temasta çözüm"),
        (
            "{value} of tickets were resolved at the first contact",
            "Taleplerin {value} kadarı ilk temasta çözüldü",
        ),
        "Share of tickets resolved in the support window (with a contact count) that "
        "needed exactly one contact; null when none.",
    ),
    _sig(
        "ticket_trend",
        "support",
        "count",
        -1,
        (_TICKETS,),
        ("Ticket trend", "Talep eğilimi"),
        (
            "Tickets {trend} by {abs} over the last 30 days",
            "Talep sayısı son 30 günde {abs} {trend}",
        ),
        "Tickets opened in the last 30 days minus those opened in the 30 days before.",
    ),
    _sig(
        "support_csat",
        "support",
        "score",
        +1,
        (_with(_TICKETS, "resolved_at", "csat"),),
        ("Support CSAT", "Destek memnuniyeti"),
        (
            "Support satisfaction averaged {value} out of 5",
            "Destek memnuniyeti 5 üzerinden ortalama {value}",
        ),
        "Mean ticket CSAT (1-5) over tickets resolved in the support window; null when none.",
        _ESCALATE,
    ),
    # --- sentiment --------------------------------------------------------------------------
    _sig(
        "nps_latest",
        "sentiment",
        "score",
        +1,
        (_SURVEYS,),
        ("Latest NPS answer", "Son NPS yanıtı"),
        ("The latest NPS answer was {value}", "Son NPS yanıtı {value} oldu"),
        "The latest NPS answer (0-10) before as_of; answers at the same instant are averaged.",
        _ASK,
    ),
    _sig(
        "nps",
        "sentiment",
        "points",
        +1,
        (_SURVEYS,),
        ("Account NPS", "Hesap NPS'i"),
        ("The account's NPS is {value}", "Hesabın NPS'i {value}"),
        "% promoters (9-10) minus % detractors (0-6) over NPS answers in the survey window.",
        _ASK,
    ),
    _sig(
        "nps_trend",
        "sentiment",
        "points",
        +1,
        (_SURVEYS,),
        ("NPS trend", "NPS eğilimi"),
        ("NPS {trend} by {abs} points", "NPS {abs} puan {trend}"),
        "Account NPS over the survey window minus account NPS over the window before it.",
        _ASK,
    ),
    _sig(
        "csat_score",
        "sentiment",
        "points",
        +1,
        (_SURVEYS,),
        ("CSAT", "CSAT"),
        ("{value}% of CSAT answers were 4 or 5", "CSAT yanıtlarının %{value} kadarı 4 veya 5"),
        "% of CSAT answers (1-5) that are 4 or 5, in the survey window.",
        _ASK,
    ),
    _sig(
        "effort_score",
        "sentiment",
        "score",
        -1,
        (_SURVEYS,),
        ("Customer effort score", "Müşteri efor skoru"),
        ("Customer effort averaged {value}", "Müşteri eforu ortalama {value}"),
        "Mean customer effort answer in the survey window; direction set by FeatureConfig.effort_higher_is_better.",
        _ASK,
    ),
    _sig(
        "days_since_last_survey",
        "sentiment",
        "days",
        -1,
        (_SURVEYS,),
        ("Days since last survey answer", "Son anket yanıtından bu yana geçen gün"),
        (
            "The account last answered a survey {value} days ago",
            "Hesap en son {value} gün önce bir anket yanıtladı",
        ),
        "Days from the latest survey answer (any kind) to as_of; null without answers.",
        ("Ask the account for feedback", "Hesaptan geri bildirim isteyin"),
    ),
    _sig(
        "survey_responses_180d",
        "sentiment",
        "count",
        +1,
        (_SURVEYS,),
        ("Survey responses", "Anket yanıtları"),
        (
            "The account answered {value} surveys recently",
            "Hesap yakın zamanda {value} anket yanıtladı",
        ),
        "Survey answers (any kind) in the survey window (180 days by default).",
    ),
    # --- what customers say (features.texts, features.sentiment) ----------------------------
    _sig(
        "comment_sentiment_90d",
        "sentiment",
        "polarity",
        +1,
        (_TEXTS,),
        ("Comment sentiment (90 days)", "Yorum duygusu (90 gün)"),
        (
            "Comments and notes of the last 90 days averaged {value} (-1 negative, +1 positive)",
            "Son 90 günün yorum ve notları ortalama {value} (-1 olumsuz, +1 olumlu)",
        ),
        "Mean sentiment (-1..1) of the survey comments, CSM notes and ticket text dated in the "
        "90 days before as_of; null without any.",
        _READ,
    ),
    _sig(
        "comment_sentiment_180d",
        "sentiment",
        "polarity",
        +1,
        (_TEXTS,),
        ("Comment sentiment (180 days)", "Yorum duygusu (180 gün)"),
        (
            "Comments and notes of the last 180 days averaged {value} (-1 negative, +1 positive)",
            "Son 180 günün yorum ve notları ortalama {value} (-1 olumsuz, +1 olumlu)",
        ),
        "Mean sentiment (-1..1) of the texts dated in the 180 days before as_of; null without any.",
        _READ,
    ),
    _sig(
        "negative_comment_share_180d",
        "sentiment",
        "share",
        -1,
        (_TEXTS,),
        ("Negative comments", "Olumsuz yorumlar"),
        (
            "{value} of the comments and notes of the last 180 days were negative",
            "Son 180 günün yorum ve notlarının {value} kadarı olumsuzdu",
        ),
        "Share of the texts dated in the 180 days before as_of whose sentiment is negative "
        "(<= -0.05); null without any.",
        _READ,
    ),
    _sig(
        "days_since_negative_comment",
        "sentiment",
        "days",
        +1,
        (_TEXTS,),
        ("Days since a negative comment", "Son olumsuz yorumdan bu yana geçen gün"),
        ("The last negative comment was {value} days ago", "Son olumsuz yorum {value} gün önceydi"),
        "Days from the latest negative text before as_of to as_of; null when there was none.",
        _READ,
    ),
    _sig(
        "risk_phrases_90d",
        "sentiment",
        "count",
        -1,
        (_TEXTS,),
        ("Risk phrases (90 days)", "Risk ifadeleri (90 gün)"),
        (
            "Comments and notes mentioned cancelling, a competitor or the price {value} times in the last 90 days",
            "Yorum ve notlarda son 90 günde {value} kez iptal, rakip veya fiyat geçti",
        ),
        "Occurrences of FeatureConfig.risk_phrases in the texts dated in the 90 days before as_of.",
        (
            "Call the sponsor about the cancellation, competitor or price concern",
            "İptal, rakip veya fiyat kaygısı için sponsoru arayın",
        ),
    ),
    # --- financial --------------------------------------------------------------------------
    _sig(
        "arr",
        "financial",
        "currency",
        0,
        (_SUBS,),
        ("ARR", "ARR"),
        ("Annual recurring revenue is {value}", "Yıllık yinelenen gelir {value}"),
        "Sum of ARR of the subscriptions active at as_of (start_date < as_of <= end_date, "
        "open-ended when end_date is null); 0 without one.",
    ),
    _sig(
        "arr_change_90d",
        "financial",
        "ratio",
        +1,
        (_SUBS,),
        ("ARR change (90 days)", "ARR değişimi (90 gün)"),
        ("ARR {trend} {pct}% over the last 90 days", "ARR son 90 günde %{pct} {trend}"),
        "Relative change of ARR from as_of - 90 days to as_of; null when the earlier ARR is 0.",
    ),
    _sig(
        "arr_change_180d",
        "financial",
        "ratio",
        +1,
        (_SUBS,),
        ("ARR change (180 days)", "ARR değişimi (180 gün)"),
        ("ARR {trend} {pct}% over the last 180 days", "ARR son 180 günde %{pct} {trend}"),
        "Relative change of ARR from as_of - 180 days to as_of; null when the earlier ARR is 0.",
    ),
    _sig(
        "overdue_amount",
        "financial",
        "currency",
        -1,
        (_with(_INVOICES, "paid_at"),),
        ("Overdue invoices", "Vadesi geçmiş faturalar"),
        ("{value} is overdue on invoices", "Faturalarda {value} tutarında gecikmiş ödeme var"),
        "Amount of invoices due before as_of and not paid before as_of.",
        (
            "Ask billing to contact the account about the overdue invoices",
            "Gecikmiş faturalar için finans ekibinden hesapla iletişime geçmesini isteyin",
        ),
    ),
    _sig(
        "max_days_overdue",
        "financial",
        "days",
        -1,
        (_with(_INVOICES, "paid_at"),),
        ("Days overdue", "Gecikme günü"),
        (
            "The oldest unpaid invoice is {value} days overdue",
            "En eski ödenmemiş fatura {value} gün gecikmede",
        ),
        "Days from the oldest unpaid due date to as_of; 0 when nothing is overdue.",
        (
            "Ask billing to contact the account about the overdue invoices",
            "Gecikmiş faturalar için finans ekibinden hesapla iletişime geçmesini isteyin",
        ),
    ),
    _sig(
        "days_to_renewal",
        "financial",
        "days",
        0,
        (_SUBS,),
        ("Days to renewal", "Yenilemeye kalan gün"),
        ("The contract renews in {value} days", "Sözleşme {value} gün sonra yenileniyor"),
        "Days from as_of to the latest end_date of the active subscriptions; null without "
        "an active subscription with an end date.",
    ),
    _sig(
        "days_since_last_renewal",
        "financial",
        "days",
        0,
        (_SUBS,),
        ("Days since last renewal", "Son yenilemeden bu yana geçen gün"),
        (
            "The contract was last renewed {value} days ago",
            "Sözleşme en son {value} gün önce yenilendi",
        ),
        "Days since the latest subscription start before as_of that is not the account's "
        "first; null when there is none.",
    ),
    _sig(
        "tenure_days",
        "financial",
        "days",
        0,
        (_ACCOUNTS,),
        ("Tenure", "Müşteri yaşı"),
        ("The account has been a customer for {value} days", "Hesap {value} gündür müşteri"),
        "Days from created_at to as_of.",
    ),
    _sig(
        "plan_changes",
        "financial",
        "count",
        0,
        (_with(_SUBS, "plan"),),
        ("Plan changes", "Plan değişiklikleri"),
        (
            "The plan changed {value} times in the last year",
            "Plan son bir yılda {value} kez değişti",
        ),
        "Subscription starts in the plan-change window whose plan differs from the plan of "
        "the account's previous subscription (rows without a plan are ignored).",
    ),
    # --- relationship -----------------------------------------------------------------------
    _sig(
        "csm_sentiment",
        "relationship",
        "score",
        +1,
        (_CSM,),
        ("CSM sentiment", "CSM değerlendirmesi"),
        (
            "The CSM's latest read is {value} (0 red, 1 yellow, 2 green)",
            "CSM'in son değerlendirmesi {value} (0 kırmızı, 1 sarı, 2 yeşil)",
        ),
        "Latest CSM sentiment before as_of: red 0, yellow 1, green 2 (same-instant inputs are averaged).",
        (
            "Agree a recovery plan with the CSM and the account's sponsor",
            "CSM ve hesabın sponsoruyla bir iyileştirme planı üzerinde anlaşın",
        ),
    ),
    _sig(
        "days_since_csm_input",
        "relationship",
        "days",
        -1,
        (_CSM,),
        ("Days since CSM check-in", "Son CSM görüşmesinden bu yana geçen gün"),
        ("The CSM last checked in {value} days ago", "CSM en son {value} gün önce görüştü"),
        "Days from the latest CSM input to as_of; null without inputs.",
        ("Schedule a check-in call", "Bir durum görüşmesi planlayın"),
    ),
    _sig(
        "referrals_365d",
        "relationship",
        "count",
        +1,
        (_REFERRALS,),
        ("Referrals made (365 days)", "Yapılan yönlendirmeler (365 gün)"),
        (
            "The account referred {value} prospects in the last year",
            "Hesap son bir yılda {value} aday müşteri yönlendirdi",
        ),
        "Referrals the account made (referrals.referred_at) in the 365 days before as_of.",
        (
            "Thank the account and ask for a case study or another referral",
            "Hesaba teşekkür edin, bir başarı hikâyesi veya yeni bir yönlendirme isteyin",
        ),
    ),
    # --- engagement -------------------------------------------------------------------------
    _sig(
        "engagement_score",
        "engagement",
        "score",
        +1,
        (_USAGE,),
        ("Engagement score", "Etkileşim skoru"),
        ("The engagement score is {value} out of 100", "Etkileşim skoru 100 üzerinden {value}"),
        "Weighted sum (0-100) of engagement activities (FeatureConfig.engagement_activities); "
        "bands 0-40 disengaged, 41-75 somewhat engaged, 76-100 highly engaged.",
        _REENGAGE,
    ),
)

# --- generated signals: the data's own event vocabulary ------------------------------------
# For each of the most frequent event types (FeatureConfig.event_types) three signals are
# generated, named ``events_30d__<type>``, ``events_90d__<type>`` and ``events_trend__<type>``
# (``<type>`` is the event name with characters other than letters, digits, ``_`` and ``-``
# replaced by ``_``). They are declared here, as data, like the fixed catalog.
VOCABULARY_KINDS = ("30d", "90d", "trend")
KEY_EVENT_SIGNALS = ("key_feature_adoption", "key_feature_users_share", "time_to_value_days")
NO_KEY_EVENTS = "no key events are configured (FeatureConfig.key_events, [features] key_events in the settings)"
_SLUG = re.compile(r"[^A-Za-z0-9_-]")
_VOCABULARY_NAME = re.compile(r"^events_(30d|90d|trend)__(.+)$")


def event_slug(event: str) -> str:
    """The event name as it appears in a generated signal's name."""
    return _SLUG.sub("_", str(event)) or "_"


def vocabulary_name(kind: str, event: str) -> str:
    return f"events_{kind}__{event_slug(event)}"


def vocabulary_signal(kind: str, slug: str) -> Signal:
    """The generated signal for one event type (``slug``) and kind (30d, 90d or trend)."""
    quoted = f"'{slug}'"
    requires = (_USAGE,)
    if kind == "trend":
        return _sig(
            f"events_trend__{slug}",
            "usage",
            "ratio",
            0,
            requires,
            (f"{quoted} event trend", f"{quoted} etkinlik eğilimi"),
            (
                f"{quoted} events {{trend}} {{pct}}% over the last 30 days",
                f"{quoted} etkinlikleri son 30 günde %{{pct}} {{trend}}",
            ),
            f"Relative change of {quoted} events, last 30 days vs the 30 days before; null when "
            "there were none in the earlier window.",
            _REENGAGE,
        )
    days = kind.removesuffix("d")
    return _sig(
        f"events_{kind}__{slug}",
        "usage",
        "count",
        0,
        requires,
        (f"{quoted} events ({days} days)", f"{quoted} etkinlikleri ({days} gün)"),
        (
            f"{{value}} {quoted} events in the last {days} days",
            f"Son {days} günde {{value}} {quoted} etkinliği",
        ),
        f"Usage events of type {quoted} in the {days} days before as_of.",
        _REENGAGE,
    )


def vocabulary_signals(events: Sequence[str]) -> tuple[Signal, ...]:
    """The generated signals for ``events`` (the chosen event types), in a fixed order."""
    return tuple(vocabulary_signal(kind, event_slug(e)) for e in events for kind in VOCABULARY_KINDS)


class _Catalog(dict[str, Signal]):
    """The fixed catalog, which also knows every generated signal by its name."""

    def __missing__(self, key: str) -> Signal:
        match = _VOCABULARY_NAME.match(key) if isinstance(key, str) else None
        if match is None:
            raise KeyError(key)
        return vocabulary_signal(match.group(1), match.group(2))

    def __contains__(self, key: object) -> bool:
        return super().__contains__(key) or (isinstance(key, str) and _VOCABULARY_NAME.match(key) is not None)

    def get(self, key: str, default: Signal | None = None) -> Signal | None:  # type: ignore[override]
        return self[key] if key in self else default


SIGNALS_BY_NAME: dict[str, Signal] = _Catalog({s.name: s for s in SIGNALS})
SIGNAL_NAMES: tuple[str, ...] = tuple(s.name for s in SIGNALS)
TEXT_SIGNALS: tuple[str, ...] = tuple(s.name for s in SIGNALS if _TEXTS in s.requires)
"""Signals computed from comments and notes: their red flags quote the most negative recent text."""


def registry(config: FeatureConfig | None = None) -> tuple[Signal, ...]:
    """The catalog under ``config``: the effort score's direction follows the config, and the
    chosen event types (``config.event_types``) add their generated signals at the end."""
    config = config or FeatureConfig()
    direction = +1 if config.effort_higher_is_better else -1
    fixed = tuple(replace(s, direction=direction) if s.name == "effort_score" else s for s in SIGNALS)
    return fixed + vocabulary_signals(config.event_types or ())


def split_available(
    present: Mapping[str, Sequence[str]], config: FeatureConfig | None = None
) -> tuple[tuple[Signal, ...], tuple[SkippedSignal, ...]]:
    """Signals computable from ``present`` (table -> its columns) under ``config``, and the skipped ones.

    Without key events the signals built on them are skipped with that reason.
    """
    config = config or FeatureConfig()
    kept, skipped = split_present(registry(config), present)
    if config.key_events:
        return kept, skipped
    keyed = {s.name for s in kept if s.name in KEY_EVENT_SIGNALS}
    return (
        tuple(s for s in kept if s.name not in keyed),
        skipped + tuple(SkippedSignal(n, NO_KEY_EVENTS) for n in KEY_EVENT_SIGNALS if n in keyed),
    )


class Declared(Protocol):
    """A signal or a KPI: a name and the tables and columns it needs."""

    @property
    def name(self) -> str: ...

    def missing(self, present: Mapping[str, Sequence[str]]) -> str | None: ...


D = TypeVar("D", bound=Declared)


def split_present(
    items: Iterable[D], present: Mapping[str, Sequence[str]]
) -> tuple[tuple[D, ...], tuple[SkippedSignal, ...]]:
    """``items`` whose requirements ``present`` meets, and the others with the reason."""
    kept: list[D] = []
    skipped: list[SkippedSignal] = []
    for item in items:
        reason = item.missing(present)
        if reason is None:
            kept.append(item)
        else:
            skipped.append(SkippedSignal(item.name, reason))
    return tuple(kept), tuple(skipped)
