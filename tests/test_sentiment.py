"""Comment sentiment in English and Turkish, language detection and risk phrases."""

from __future__ import annotations

import numpy as np
import pytest

from features.sentiment import detect_language, normalise, risk_hits, score_text, score_texts, turkish_lower

# (text, expected sign: +1 positive, -1 negative, 0 neutral), written by hand for this test.
ENGLISH = [
    ("Great product, saves us hours every week", 1),
    ("Support is excellent and very quick", 1),
    ("We love the new reports", 1),
    ("Easy to use and the team is happy", 1),
    ("Not bad at all", 1),
    ("The onboarding was not bad", 1),
    ("Really helpful account manager", 1),
    ("Nothing to complain about, works well", 1),
    ("Too slow and the support takes forever", -1),
    ("Terrible experience with the last release", -1),
    ("It is too expensive for what we get", -1),
    ("The dashboard keeps crashing, very frustrating", -1),
    ("Not good, we are disappointed", -1),
    ("We are not happy with the integration", -1),
    ("Missing features we need, the product is useless to us", -1),
    ("Nobody answers our tickets, awful", -1),
    ("We renewed the contract in March", 0),
    ("The meeting is on Tuesday", 0),
    ("Exported the data to CSV", 0),
    ("Two users joined the team", 0),
    ("Please send the invoice to finance", 0),
    ("It's fine but a bit slow", 1),
]
TURKISH = [
    ("Harika bir ürün, çok memnunuz", 1),
    ("Destek ekibi çok hızlı ve yardımcı", 1),
    ("Raporları çok beğendik", 1),
    ("Fena değil", 1),
    ("Ürün fena değil, işimize yarıyor", 1),
    ("Hiç sorun yaşamadık, teşekkürler", 1),
    ("Kullanımı kolay, ekip mutlu", 1),
    ("Sorunsuz çalışıyor", 1),
    ("İYİ İŞ ÇIKARDINIZ", 1),
    ("Çok yavaş ve destek berbat", -1),
    ("Fiyat çok pahalı", -1),
    ("Memnun değiliz", -1),
    ("Raporları beğenmedik", -1),
    ("Entegrasyon çalışmıyor, çok kötü", -1),
    ("Sürekli hata veriyor, rezalet", -1),
    ("Hiç memnun kalmadık", -1),
    ("Destek ekibine ulaşamıyoruz", -1),
    ("Ürün iyi ama destek berbat", -1),
    ("KÖTÜ BİR DENEYİMDİ", -1),
    ("Toplantı salı günü", 0),
    ("Faturayı finans ekibine gönderin", 0),
    ("Verileri CSV olarak aktardık", 0),
    ("İki yeni kullanıcı eklendi", 0),
    ("Sözleşme mart ayında yenilendi", 0),
]


def _sign(score: float | None, band: float = 0.05) -> int:
    assert score is not None
    return 0 if abs(score) < band else (1 if score > 0 else -1)


@pytest.mark.parametrize(("name", "cases", "lang"), [("English", ENGLISH, "en"), ("Turkish", TURKISH, "tr")])
def test_sentiment_sign_is_right_on_hand_written_comments(name: str, cases: list[tuple[str, int]], lang: str) -> None:
    """It gets the sign of at least 80% of 20+ hand-written comments right in each language."""
    assert len(cases) >= 20
    got = [_sign(score_text(text)) for text, _ in cases]
    right = [g == want for g, (_, want) in zip(got, cases, strict=True)]
    wrong = [(text, want, g) for (text, want), g, ok in zip(cases, got, right, strict=True) if not ok]
    share = sum(right) / len(cases)
    print(f"{name}: {sum(right)}/{len(cases)} right ({share:.0%}); wrong: {wrong}")
    assert share >= 0.8, wrong
    assert all(detect_language(text) == lang for text, _ in cases if any(c.isalpha() for c in text))


def test_negation_flips_the_sign() -> None:
    """It reads "not bad" and "fena değil" as positive, "not good" and "memnun değiliz" as negative."""
    assert score_text("not bad") > 0 > score_text("bad")
    assert score_text("fena değil") > 0 > score_text("fena", "tr")
    assert score_text("not good") < 0 < score_text("good")
    assert score_text("memnun değiliz") < 0 < score_text("memnunuz", "tr")
    assert score_text("beğenmedik") < 0 < score_text("beğendik")


def test_scores_stay_in_range_and_blanks_are_missing() -> None:
    """It keeps every score in [-1, 1] and gives blanks no score."""
    scores = score_texts(["", None, "   ", "Great!!! " * 20, "berbat " * 30, "ok"])
    assert np.isnan(scores[:3]).all()
    assert (np.abs(scores[3:]) <= 1).all()
    assert score_text(None) is None


def test_turkish_casing_is_turkish() -> None:
    """It lower-cases İ to i and I to ı, so upper-case Turkish text matches the lexicon."""
    assert turkish_lower("İYİ IŞIK") == "iyi ışık"
    assert normalise("KÖTÜ, çok KÖTÜ!") == "kotu cok kotu"
    assert score_text("KÖTÜ") < 0 < score_text("İYİ")


def test_language_can_be_configured() -> None:
    """It scores a text in the configured language and refuses an unknown one."""
    assert score_text("harika", "tr") > 0
    with pytest.raises(ValueError, match="text language must be one of"):
        score_text("great", "de")


def test_risk_phrases_match_with_turkish_suffixes() -> None:
    """It counts risk phrases on normalised text, with Turkish suffixes and softened consonants."""
    phrases = ("cancel", "competitor", "too expensive", "iptal", "rakip", "pahalı")
    assert risk_hits("We may CANCEL; a competitor is cheaper", phrases) == 2
    assert risk_hits("It is too  expensive.", phrases) == 1
    assert risk_hits("Rakibe geçmeyi düşünüyorlar, iptali konuştuk", phrases) == 2
    assert risk_hits("Fiyat PAHALI", phrases) == 1
    assert risk_hits("Great product", phrases) == 0
    assert risk_hits(None, phrases) == 0
