"""What the generated customers say and whom they refer: comments, CSM notes and referrals.

A hook of :func:`simulator.generate_world`. Every draw comes from its own numpy
Generator, seeded from ``(config.seed, "text")``, never from the world's streams: a world
with the same seed keeps every other table and column bit-identical whether or not this
module changes.

- **Tone** of a text follows the account's hidden state in the month it is written: its
  satisfaction and engagement, minus the same churn pressure that drives the next month's
  cancellations (:func:`simulator.dynamics._churn_terms`), plus noise. Under pressure, a few
  negative texts name a risk (a competitor, cancelling, the price).
- **Deciding to leave**: 70% of the accounts that will cancel decide to some months before
  they do (geometric, mean about three), while their usage may not have fallen yet. From the
  decision on nearly every survey answer and check-in carries a text, most naming the risk. The
  decision is drawn from the text's own stream and shows only in the text, so it is what a
  text signal can know that the other tables cannot; the ground truth's churn probability,
  which follows the usage-driving state alone, does not know it.
- **Language**: about a third of the accounts write in Turkish, the rest in English.
- **Blanks**: a quarter of a content account's survey answers carry a comment and half of its
  CSM check-ins a note; under churn pressure up to four times as many (unhappy customers write).
- **Referrals**: about a fifth of the purchases made in the period came through a referral
  from an account that was a customer then, picked with weight growing with its engagement;
  healthy accounts also make referrals that do not convert.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

TEXT_STREAM = 0x74657874  # "text": the stream's second seed word
TURKISH_SHARE = 0.35
COMMENT_SHARE = 0.25  # survey answers with a comment (more under churn pressure)
NOTE_SHARE = 0.5  # CSM check-ins with a note (more under churn pressure)
DECIDED_SHARE = 0.7  # accounts that cancel whose decision shows in what they write before
DECISION_LEAD = 0.35  # geometric: months from the decision to the cancellation's month (mean ~3)
DECIDED_RISK = 0.85  # share of a decided account's texts that name the risk
DECIDED_WRITE = 0.9  # share of a decided account's survey answers and check-ins that carry a text
PRESSURE_RISK = 0.25  # under pressure alone, a negative text names a risk this much less often
REFERRED_SHARE = 0.2  # purchases that came through a referral
OPEN_REFERRAL_RATE = 0.012  # referrals per account-month that do not convert, at average engagement
_US_PER_DAY = 86_400_000_000
_HOUR = 3_600_000_000

COMMENTS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "positive": (
            "Great product, saves us hours every week",
            "Support is excellent and very quick",
            "We love the new reports",
            "Easy to use, the whole team is happy",
            "Really helpful, keep it up",
            "Works well for us, no complaints",
            "Not bad at all, the dashboards are useful",
        ),
        "neutral": (
            "We use it mostly for exports",
            "Would like a dark mode",
            "Please add more chart types",
            "The new menu takes some getting used to",
            "ok",
        ),
        "negative": (
            "Too slow and support takes forever",
            "The dashboard keeps crashing, very frustrating",
            "Missing features we need",
            "Not happy with the last release",
            "Terrible experience with the integration",
            "Hard to use, our team is disappointed",
        ),
        "risk": (
            "Too expensive for what we get",
            "We are evaluating a competitor",
            "Management asked us to cancel at renewal",
            "Looking at other vendors, this is too expensive",
        ),
    },
    "tr": {
        "positive": (
            "Harika bir ürün, çok memnunuz",
            "Destek ekibi çok hızlı ve yardımcı",
            "Raporları çok beğendik",
            "Kullanımı kolay, ekip mutlu",
            "Fena değil, işimize yarıyor",
            "Sorunsuz çalışıyor, teşekkürler",
        ),
        "neutral": (
            "Çoğunlukla dışa aktarma için kullanıyoruz",
            "Karanlık tema eklenebilir",
            "Yeni menüye alışmaya çalışıyoruz",
            "Daha fazla grafik türü olsa iyi olur",
        ),
        "negative": (
            "Çok yavaş ve destek berbat",
            "Entegrasyon çalışmıyor, çok kötü",
            "Sürekli hata veriyor",
            "Raporları beğenmedik",
            "Memnun değiliz",
            "Destek ekibine ulaşamıyoruz",
        ),
        "risk": (
            "Fiyat çok pahalı",
            "Rakip bir ürünü değerlendiriyoruz",
            "Yönetim yenilemede iptal etmemizi istedi",
            "Rakibe geçmeyi düşünüyoruz, fiyat pahalı",
        ),
    },
}
NOTES: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "positive": (
            "Strong QBR, sponsor very happy",
            "Expanding to a new team, great momentum",
            "Happy with the roadmap",
        ),
        "neutral": ("Quarterly check-in done", "Budget review next quarter", "New admin onboarded"),
        "negative": (
            "Champion left; escalation open",
            "Unhappy with support, usage dropped",
            "Adoption stalled, the team is frustrated",
        ),
        "risk": (
            "Exec asked about cost; says we are too expensive",
            "They are evaluating a competitor",
            "Customer mentioned they may cancel",
        ),
    },
    "tr": {
        "positive": (
            "QBR çok iyi geçti, sponsor memnun",
            "Yeni bir ekibe yayılıyorlar, harika",
            "Yol haritasından memnunlar",
        ),
        "neutral": ("Çeyrek görüşmesi yapıldı", "Bütçe değerlendirmesi gelecek çeyrekte", "Yeni yönetici eklendi"),
        "negative": (
            "Şampiyon ayrıldı, eskalasyon açık",
            "Destekten memnun değiller, kullanım düştü",
            "Benimseme durdu, ekip mutsuz",
        ),
        "risk": (
            "Yönetici fiyatı sordu, pahalı buluyorlar",
            "Rakip bir ürünü değerlendiriyorlar",
            "Müşteri iptal edebileceklerini söyledi",
        ),
    },
}


def text_rng(seed: int) -> np.random.Generator:
    """The text stream of a world: seeded from ``(seed, "text")``, apart from every other stream."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), TEXT_STREAM]))


def _pressure(comp: np.ndarray, a: np.ndarray, k: np.ndarray) -> np.ndarray:
    """The planted churn drivers' pressure of accounts ``a`` in months ``k`` (as the simulation's)."""
    e, fr, sat, fin = (comp[i, a, k].astype(np.float64) for i in range(4))
    before = comp[0, a, np.maximum(k - 3, 0)].astype(np.float64)
    return (
        1.5 * np.maximum(-0.1 - e, 0.0)
        + 2.0 * np.maximum(before - e - 0.2, 0.0)
        + 1.1 * np.maximum(fr - 0.4, 0.0)
        + 1.1 * np.maximum(-sat - 0.4, 0.0)
        + 1.0 * np.maximum(fin - 0.4, 0.0)
    )


def _write(
    rng: np.random.Generator,
    bank: dict[str, dict[str, tuple[str, ...]]],
    comp: np.ndarray,
    a: np.ndarray,
    k: np.ndarray,
    turkish: np.ndarray,
    share: float,
    noise: float,
    decided: np.ndarray,
    decide_rng: np.random.Generator,
) -> np.ndarray:
    """One text (or None) per row of accounts ``a`` in months ``k``, its tone from the hidden state
    (``decided``: the month from which an account has decided to leave, per account; -1 if never)."""
    m = a.size
    pressure = _pressure(comp, a, k)
    sat, e = comp[2, a, k].astype(np.float64), comp[0, a, k].astype(np.float64)
    # The churn pressure weighs most: what customers write is a sharper view of it than any one table.
    tone = 0.25 * sat + 0.15 * e - 1.4 * pressure + (0.05 + 0.2 * noise) * rng.standard_normal(m)
    risky = (pressure > 0.4) & (rng.random(m) < 0.7 * PRESSURE_RISK)
    kind = np.where(tone < -0.35, np.where(risky, "risk", "negative"), np.where(tone > 0.3, "positive", "neutral"))
    leaving = (decided[a] >= 0) & (k >= decided[a])
    kind = np.where(leaving & (decide_rng.random(m) < DECIDED_RISK), "risk", kind)
    # Unhappy customers write more often than content ones (up to four times as often), and so
    # do those who have decided to leave.
    written = rng.random(m) < np.where(leaving, DECIDED_WRITE, share * (1 + 3 * np.minimum(pressure, 1.0)))
    pick = rng.random(m)
    out = np.full(m, None, dtype=object)
    for lang in ("en", "tr"):
        for name, options in bank[lang].items():
            rows = written & (kind == name) & (turkish[a] == (lang == "tr"))
            idx = np.flatnonzero(rows)
            out[idx] = np.asarray(options, dtype=object)[(pick[idx] * len(options)).astype(np.int64)]
    return out


def decision_months(rng: np.random.Generator, cal: Any, churn_day: np.ndarray, open_day: int) -> np.ndarray:
    """The month from which each account has decided to leave (-1: it never does, or it does not show)."""
    n = churn_day.size
    cancels = churn_day < open_day
    shows = cancels & (rng.random(n) < DECIDED_SHARE)
    lead = rng.geometric(DECISION_LEAD, n)  # 1, 2, 3... months before the cancellation's month
    month = cal.month_of(np.where(cancels, churn_day, 0).astype(np.int64))
    return np.where(shows, np.maximum(month - lead, 0), -1).astype(np.int64)


def _account_index(ids: pd.Series) -> np.ndarray:
    return ids.astype(str).str.slice(1).astype(np.int64).to_numpy()


def _months(times: pd.Series, cal: Any) -> np.ndarray:
    micros = times.astype("datetime64[us, UTC]").astype("int64").to_numpy()
    return np.clip(cal.month_of(micros // _US_PER_DAY), 0, cal.months - 1)


def add_text(
    tables: dict[str, pd.DataFrame],
    *,
    seed: int,
    noise: float,
    cal: Any,
    comp: np.ndarray,
    paid_start: np.ndarray,
    churn_day: np.ndarray,
    ids: Any,
    open_day: int,
) -> dict[str, pd.DataFrame]:
    """The tables with survey comments and CSM notes rewritten and a ``referrals`` table added.

    ``comp`` is the simulation's (4, accounts, months) history of engagement, friction,
    satisfaction and financial stress; ``paid_start`` / ``churn_day`` the first paid and the
    cancellation day of each account (``open_day`` when none); ``ids`` makes account IDs.
    """
    rng = text_rng(seed)
    n = comp.shape[1]
    turkish: np.ndarray = np.asarray(rng.random(n) < TURKISH_SHARE)
    # Its own stream, so the tone, blanks and referrals draw what they drew before the decision existed.
    decide_rng = np.random.default_rng(np.random.SeedSequence([int(seed), TEXT_STREAM, 1]))
    decided = decision_months(decide_rng, cal, churn_day, open_day)
    out = dict(tables)
    surveys = tables["surveys"]
    a = _account_index(surveys["account_id"])
    comment = _write(
        rng, COMMENTS, comp, a, _months(surveys["answered_at"], cal), turkish, COMMENT_SHARE, noise, decided, decide_rng
    )
    out["surveys"] = surveys.assign(comment=pd.Series(comment, dtype="string", index=surveys.index))
    csm = tables["csm_inputs"]
    a = _account_index(csm["account_id"])
    note = _write(
        rng, NOTES, comp, a, _months(csm["recorded_at"], cal), turkish, NOTE_SHARE, noise, decided, decide_rng
    )
    out["csm_inputs"] = csm.assign(note=pd.Series(note, dtype="string", index=csm.index))
    out["referrals"] = _referrals(rng, cal, comp, paid_start, churn_day, ids, open_day)
    return out


def _referrals(
    rng: np.random.Generator,
    cal: Any,
    comp: np.ndarray,
    paid_start: np.ndarray,
    churn_day: np.ndarray,
    ids: Any,
    open_day: int,
) -> pd.DataFrame:
    referrer, referred_day, referred, converted_day = [], [], [], []
    bought = np.flatnonzero((paid_start >= cal.begin) & (paid_start < cal.end))
    through = bought[rng.random(bought.size) < REFERRED_SHARE]
    for b in through:
        day = int(paid_start[b]) - int(rng.integers(3, 46))
        k = int(np.clip(cal.month_of(np.array([day]))[0], 0, cal.months - 1))
        customers = np.flatnonzero((paid_start < day) & (churn_day > day))
        customers = customers[customers != b]
        if customers.size == 0 or day < cal.begin:
            continue
        weight = np.exp(1.5 * comp[0, customers, k].astype(np.float64))
        referrer.append(int(rng.choice(customers, p=weight / weight.sum())))
        referred_day.append(day)
        referred.append(int(b))
        converted_day.append(int(paid_start[b]))
    for k in range(cal.months):
        start, days = int(cal.start(k)), int(cal.days(k))
        active = np.flatnonzero((paid_start < start) & (churn_day > start + days))
        e = comp[0, active, k].astype(np.float64)
        count = rng.poisson(OPEN_REFERRAL_RATE * np.exp(1.2 * e))
        who = np.repeat(active, count)
        referrer.extend(who.tolist())
        referred_day.extend((start + rng.integers(0, days, who.size)).tolist())
        referred.extend([-1] * who.size)
        converted_day.extend([-1] * who.size)
    order = np.lexsort((np.array(referred_day, dtype=np.int64), np.array(referrer, dtype=np.int64)))
    who = np.array(referrer, dtype=np.int64)[order]
    at = np.array(referred_day, dtype=np.int64)[order]
    to = np.array(referred, dtype=np.int64)[order]
    done = np.array(converted_day, dtype=np.int64)[order]
    hour = rng.integers(8, 18, who.size)
    referred_at = at * _US_PER_DAY + hour * _HOUR
    converted_at = np.where(done >= 0, done * _US_PER_DAY + 10 * _HOUR, -1)
    return pd.DataFrame(
        {
            "referrer_account_id": ids(who),
            "referred_at": _timestamps(referred_at),
            "referred_account_id": ids(np.maximum(to, 0)).where(to >= 0),
            "converted_at": _timestamps(converted_at),
        }
    )


def _timestamps(micros: np.ndarray) -> pd.Series:
    out = pd.Series(pd.to_datetime(micros.astype("datetime64[us]"), utc=True)).astype("datetime64[us, UTC]")
    return out.where(micros >= 0)
