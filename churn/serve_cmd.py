"""`churn serve`: the REST API and the CSM risk-list page on one port."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path
from typing import Annotated

import typer

from churn.config_cmd import ConfigOption
from churn.console import console, fail
from features.settings import SETTINGS_FILE, SettingsError, for_scoring, load_settings, parse_settings

# Start-up time: the stages (features, training, serving) are imported inside the commands that use
# them. `churn --help` takes 2-3 s; importing the stages' modules takes 30-60 s more on the shared
# 2-core machine (measured 2026-12-02), and `churn serve` must refuse a busy port before that.
KEY_RECIPE = "export CHURN_API_KEY=$(python -c 'import secrets; print(secrets.token_urlsafe())')"


def serve(
    model: Annotated[Path, typer.Option(help="Model folder written by `churn train` (checksums verified at load).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Dataset to score at start-up (its latest snapshot), as `churn score --as-of latest`."),
    ] = None,
    scores: Annotated[
        Path | None, typer.Option(help="Serve this scores file (from `churn score`) instead of scoring --data.")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    api_key_file: Annotated[
        Path | None, typer.Option(help="File holding the API key (else the CHURN_API_KEY variable).")
    ] = None,
    insecure_local: Annotated[
        bool, typer.Option("--insecure-local", help="Run without an API key; only on 127.0.0.1.")
    ] = False,
    trend_days: Annotated[
        int, typer.Option(min=0, max=365, help="Health trend: change since this many days earlier (0: none).")
    ] = 30,
    max_body_bytes: Annotated[int, typer.Option(min=1024, help="Larger request bodies get 413.")] = 1_048_576,
    scorer_processes: Annotated[
        int, typer.Option(min=0, max=16, help="Processes scoring posted signals (0: a thread).")
    ] = 1,
    config: ConfigOption = None,
) -> None:
    """Serve the REST API (/v1, /openapi.json, /healthz, /readyz, /metrics) and the risk-list page (/)."""
    # Requests are scored in small batches: one OpenMP thread per scorer call, because waking a
    # thread team costs more than the work and, on a busy machine, adds milliseconds of waiting.
    # Set before LightGBM loads (OpenMP reads it once); an explicit OMP_NUM_THREADS wins.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from pydantic import ValidationError

    from serving.settings import Settings, settings_error

    for label, path in (("--model", model), ("--data", data), ("--scores", scores)):
        if path is not None and not path.exists():
            fail(f"{label}: no such file or folder: {path}", 2)
    try:
        settings = Settings(  # type: ignore[call-arg]  # the API key may come from CHURN_API_KEY
            model_dir=model,
            data_dir=data,
            scores_file=scores,
            host=host,
            port=port,
            api_key_file=api_key_file,
            insecure_local=insecure_local,
            trend_days=trend_days,
            config_file=config,
            max_body_bytes=max_body_bytes,
            scorer_processes=scorer_processes,
        )
    except ValidationError as exc:  # never print the exception itself: its input could hold the key
        reason = settings_error(exc)
        fail(reason + (f"; for example: {KEY_RECIPE}" if "no API key" in reason else ""), 2)
    # Both checks take milliseconds; loading the model and scoring the accounts take the better
    # part of a minute, so a busy port or a model this version cannot read is refused first.
    listener = bind(host, port)
    from training.model.folder import ModelFolderError, read_manifest

    try:
        read_manifest(model)
        if config is not None:  # a --config whose features differ from the model's is refused now, not after loading
            saved = model / SETTINGS_FILE
            for_scoring(
                parse_settings(saved.read_text(), str(saved)) if saved.is_file() else None, load_settings(config)
            )
    except (ModelFolderError, SettingsError) as exc:
        listener.close()
        fail(str(exc), 2)
    run(settings, listener)


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now and handed to uvicorn (so no other process can take the port meanwhile)."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        listener = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        fail(f"--host {host}: cannot listen there ({exc.strerror or exc})", 2)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: TIME_WAIT is no obstacle
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        busy = exc.errno == errno.EADDRINUSE
        fail(
            f"port {port} on {host} is {'already in use' if busy else f'unusable ({exc.strerror})'}; choose another with --port",
            2,
        )
    listener.set_inheritable(True)
    return listener


def run(settings: object, listener: socket.socket | None = None) -> None:
    import uvicorn

    from serving.app import configure_logging, create_app
    from serving.settings import Settings

    assert isinstance(settings, Settings)
    listener = listener or bind(settings.host, settings.port)
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    url = f"http://{host}:{settings.port}"
    console.print(f"risk-list page: {url}/", soft_wrap=True)
    console.print(
        f"API: {url}/v1  (OpenAPI {url}/openapi.json, liveness {url}/healthz, readiness {url}/readyz)", soft_wrap=True
    )
    console.print(settings.key_hint(), highlight=False, soft_wrap=True)
    source = f"scores file {settings.scores_file}" if settings.scores_file else f"data {settings.data_dir}"
    console.print(f"loading model {settings.model_dir} and {source}; /readyz answers 200 once done", soft_wrap=True)
    configure_logging()
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        access_log=False,
        server_header=False,
        log_level="info",
    )
    uvicorn.Server(config).run(sockets=[listener])
