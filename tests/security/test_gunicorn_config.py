"""config/gunicorn.py read the way gunicorn reads it (a Python file of settings and hooks)."""

from __future__ import annotations

import os
import runpy
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

CONFIG = Path(__file__).resolve().parents[2] / "config" / "gunicorn.py"


def load(monkeypatch: pytest.MonkeyPatch, **env: str) -> dict[str, Any]:
    # The file sets DJANGO_SETTINGS_MODULE if unset; monkeypatch restores whatever it was.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", os.environ.get("DJANGO_SETTINGS_MODULE", "unset"))
    for name in ("TLS_CERT_FILE", "TLS_KEY_FILE", "WEB_CONCURRENCY", "GUNICORN_THREADS", "GUNICORN_BIND"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONFIG))


def test_defaults_suit_a_two_core_node_and_log_no_access_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(monkeypatch)

    assert (config["worker_class"], config["workers"], config["threads"]) == ("gthread", 2, 4)
    assert config["max_requests"] > 0 and 0 < config["max_requests_jitter"] < config["max_requests"]
    assert config["accesslog"] is None
    assert config["logconfig_dict"]["loggers"]["gunicorn.access"]["handlers"] == ["discard"]
    assert config["certfile"] is None and config["keyfile"] is None
    assert config["wsgi_app"] == "config.wsgi:application"


def test_the_tls_hook_raises_the_minimum_to_tls_1_3(monkeypatch: pytest.MonkeyPatch) -> None:
    config = load(monkeypatch, TLS_CERT_FILE="/etc/tls/cert.pem", TLS_KEY_FILE="/etc/tls/key.pem")

    context = config["ssl_context"](SimpleNamespace(), lambda: ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))

    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert (config["certfile"], config["keyfile"]) == ("/etc/tls/cert.pem", "/etc/tls/key.pem")


def test_a_certificate_without_its_key_stops_start_up(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(RuntimeError, match="TLS_CERT_FILE and TLS_KEY_FILE"):
        load(monkeypatch, TLS_CERT_FILE="/etc/tls/cert.pem")


def test_a_dead_worker_leaves_the_multiprocess_live_gauges(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = load(monkeypatch)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_liveall_4242.db", "counter_4242.db", "gauge_livesum_7.db"):
        (tmp_path / name).write_bytes(b"")

    config["child_exit"](None, SimpleNamespace(pid=4242))

    # The dead worker's live gauges go; its counters stay (they keep counting in the sums).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_7.db"]
