"""Runtime settings of the REST API and risk-list page: one typed class that refuses unsafe configs.

Values come from keyword arguments (the `churn serve` flags) or from ``CHURN_*`` environment
variables; the API key from ``CHURN_API_KEY`` or the file named by ``--api-key-file``. The
server never starts without a key unless it is told ``--insecure-local`` and listens on a
loopback address only, so a misconfigured deployment fails at start instead of failing open.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_KEY_LENGTH = 16  # shorter keys are guessable; `python -c "import secrets; print(secrets.token_urlsafe())"`
LOOPBACK_NAMES = ("localhost",)


class Settings(BaseSettings):
    """Everything `churn serve` needs; construction fails with a one-line reason on an unsafe config."""

    model_config = SettingsConfigDict(env_prefix="CHURN_", extra="ignore", frozen=True)

    model_dir: Path = Field(description="Model folder written by `churn train` (checksums verified at load).")
    data_dir: Path | None = Field(None, description="Dataset whose latest snapshot is scored at start-up.")
    scores_file: Path | None = Field(None, description="Serve this scores file instead of scoring --data.")
    config_file: Path | None = Field(
        None, description="Settings file whose [input] table maps --data's names (features come from the model)."
    )
    history_file: Path | None = Field(
        None, description="Score history (DuckDB) for history, changes and what-if; default: beside --model."
    )
    currency: str = Field("USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 code the ARR figures are in.")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    api_key: SecretStr | None = Field(None, description="From CHURN_API_KEY.")
    api_key_file: Path | None = None
    insecure_local: bool = False
    max_body_bytes: int = Field(1_048_576, ge=1024, le=64 * 1_048_576)
    max_pending_rows: int = Field(2_000, ge=1, le=1_000_000)  # queued rows beyond this get 503, not a queue
    request_timeout_s: float = Field(10.0, gt=0, le=300)
    trend_days: int = Field(30, ge=0, le=365)  # health_trend: change since this many days earlier (0: none)
    # Scoring processes (each loads the model; the event loop keeps its GIL); 0: a thread of this process.
    scorer_processes: int = Field(1, ge=0, le=16)

    @model_validator(mode="after")
    def _safe(self) -> Settings:
        if self.data_dir is None and self.scores_file is None:
            raise ValueError("give --data (a dataset to score at start-up) or --scores (a scores file to serve)")
        if self.api_key_file is not None:
            object.__setattr__(self, "api_key", SecretStr(_read_key_file(self.api_key_file)))
        key = self.api_key.get_secret_value() if self.api_key is not None else ""
        if self.insecure_local and not is_loopback(self.host):
            raise ValueError(f"--insecure-local only binds to a loopback address (127.0.0.1), not {self.host!r}")
        if not key and not self.insecure_local:
            raise ValueError(
                "no API key: set CHURN_API_KEY or pass --api-key-file "
                "(or --insecure-local to run without one on 127.0.0.1)"
            )
        if key and len(key) < MIN_KEY_LENGTH:
            raise ValueError(f"the API key is too short: use at least {MIN_KEY_LENGTH} random characters")
        if key and (key != key.strip() or any(ord(c) < 33 or ord(c) > 126 for c in key)):
            raise ValueError("the API key must be printable ASCII without spaces (it travels in an HTTP header)")
        return self

    def key_bytes(self) -> bytes | None:
        """The key to compare against, or None when the server runs open on loopback."""
        if self.api_key is None or not self.api_key.get_secret_value():
            return None
        return self.api_key.get_secret_value().encode()

    def key_hint(self) -> str:
        """Where the key came from and a short fingerprint to tell keys apart; never the key itself."""
        key = self.key_bytes()
        if key is None:
            return "no API key (--insecure-local): anyone on this machine can read the scores"
        source = f"--api-key-file {self.api_key_file}" if self.api_key_file else "CHURN_API_KEY"
        fingerprint = hashlib.sha256(key).hexdigest()[:8]
        return f"API key from {source} (sha256 fingerprint {fingerprint}); send it as 'Authorization: Bearer <key>'"


def _read_key_file(path: Path) -> str:
    try:
        key = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the API key file {path}: {exc.__class__.__name__}") from None
    if not key:
        raise ValueError(f"the API key file {path} is empty")
    return key


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_error(exc: ValidationError) -> str:
    """The first problem of a settings error in one line (pydantic's own text names the field)."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    message = str(first.get("msg", "invalid setting")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message
