"""Signals of what customers say and whom they refer, as ibis expressions.

``texts`` is the derived table of scored comments, notes and ticket text
(:mod:`features.texts`: account_id, at, sentiment, negative, risk_hits); ``referrals`` is the
contract's table, keyed by ``referrer_account_id``. Both are small, so each is range-joined
straight to the snapshot dates, like the support and survey tables.
"""

from __future__ import annotations

import ibis.expr.types as ir

from features.windows import KEYS, Part, between, join_dates

TEXT_WINDOW_DAYS = 180  # the longest text window (sentiment 180 d, negative share)
REFERRAL_WINDOW_DAYS = 365


def text_parts(texts: ir.Table, dates: ir.Table) -> list[Part]:
    """Mean sentiment over 90/180 days, negative share, risk phrases, and the latest negative text."""
    j = join_dates(texts, dates, "at", TEXT_WINDOW_DAYS)
    recent = between(j.at, j.as_of, 90)
    stats = j.group_by(list(KEYS)).agg(
        _sentiment_90d=j.sentiment.mean(where=recent),
        _sentiment_180d=j.sentiment.mean(),
        _negative_share=j.negative.cast("float64").mean(),
        _risk_90d=j.risk_hits.sum(where=recent),
    )
    negative = texts.filter(texts.negative == 1)
    n = join_dates(negative, dates, "at")
    last = n.group_by(list(KEYS)).agg(_last_negative=n.at.max())
    return [Part(stats, ("_risk_90d",)), Part(last)]


def referral_parts(referrals: ir.Table, dates: ir.Table) -> list[Part]:
    """Referrals each account made in the 365 days before as_of."""
    made = referrals.select(account_id=referrals.referrer_account_id, referred_at=referrals.referred_at)
    j = join_dates(made, dates, "referred_at", REFERRAL_WINDOW_DAYS)
    return [Part(j.group_by(list(KEYS)).agg(_referrals_365d=j.count()), ("_referrals_365d",))]
