"""The scores frame's columns (DESIGN.md section 7), shared by the scorer and every reader and writer of scores."""

from __future__ import annotations

OUTCOMES = ("churn", "renewal", "upsell")
CONTEXT_COLUMNS = ("segment", "csm_owner")  # from the accounts table, for filtering risk lists
# An input column (not an output one): the most negative recent comment, quoted with its date
# (features.texts.recent_quotes). A red flag of a text signal ends with it.
QUOTE_COLUMN = "quote"
SCORE_COLUMNS = (
    "account_id",
    "as_of",
    "segment",
    "csm_owner",
    "churn_probability",
    "renewal_probability",
    "upsell_probability",
    "health_score",
    "health_band",
    "health_trend",
    "onboarding",
    "arr",
    "arr_at_risk",
    "red_flags",
    "green_flags",
    "model_version",
    "scored_at",
)
FLAG_COLUMNS = ("red_flags", "green_flags")
