"""The nginx configuration renderer and the rendered files checked into deploy/."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpapi.devtools.stack import NginxConfig

ROOT = Path(__file__).resolve().parents[1]


def test_limits_come_from_the_app_settings():
    text = NginxConfig(
        upstreams=["127.0.0.1:1", "127.0.0.1:2"],
        app_settings={"MAX_CONTENT_LENGTH": 2 * 1024 * 1024, "INGEST_MAX_CONTENT_LENGTH": 16 << 20},
    ).render()
    assert "client_max_body_size 2m;" in text and "client_max_body_size 16m;" in text
    assert "server 127.0.0.1:2 max_fails=1" in text
    assert "proxy_next_upstream_tries 2;" in text


def test_no_upstream_is_refused():
    with pytest.raises(ValueError):
        NginxConfig(upstreams=[]).render()


@pytest.mark.parametrize(
    ("path", "config"),
    [
        (
            "deploy/docker/nginx.conf",
            NginxConfig(upstreams=["api1:8000", "api2:8000"], listen="80"),
        ),
        (
            "deploy/ec2/nginx.conf",
            NginxConfig(
                upstreams=["127.0.0.1:8000"],
                listen="80",
                runtime_dir="/run/nginx",
                error_log="/var/log/nginx/error.log",
                access_log="/var/log/nginx/pumpapi.json.log",
            ),
        ),
    ],
)
def test_rendered_files_are_up_to_date(path, config):
    assert (ROOT / path).read_text() == config.render(), f"re-render {path} (see its README)"


def test_an_application_503_counts_against_an_instance_in_its_own_group_only():
    text = NginxConfig(upstreams=["127.0.0.1:1", "127.0.0.1:2"]).render()
    retries = [line.strip() for line in text.splitlines() if "proxy_next_upstream " in line]
    # Server-wide (health, docs, ...): a 503 is the answer itself, never retried nor counted.
    assert retries[0] == "proxy_next_upstream error timeout invalid_header http_502 non_idempotent;"
    # Families, database routes, ingestion (idempotent): retried, counted in that group only.
    assert (
        retries[1:]
        == ["proxy_next_upstream error timeout invalid_header http_502 http_503 non_idempotent;"]
        * 2
    )
    for group in ("general", "database", "xgboost", "gru", "lstm"):
        assert f"upstream pumpapi_{group} {{" in text
    # Family groups keep the instances as never-failed backups: a 503 everywhere reaches the
    # client as the app's JSON 503, not nginx's "no live upstreams".
    assert text.count("server 127.0.0.1:1 backup max_fails=0;") == 4
    assert "location = /machine/telemetry" in text and "proxy_pass http://pumpapi_database;" in text
    assert "~^/model/gru/ pumpapi_gru;" in text and "/predict pumpapi_lstm;" in text
    # Model routes that read the database go with the database, before the family patterns.
    assert text.index("(performance|drift)$ pumpapi_database") < text.index("pumpapi_xgboost;")


def test_nginx_errors_are_envelopes_with_the_status_meant():
    text = NginxConfig(upstreams=["127.0.0.1:1"]).render()
    assert "error_page 494 =431 /.errors/header_too_large;" in text
    assert "error_page 502 =503 /.errors/unavailable;" in text
    assert "error_page 413 =413 /.errors/too_large_ingest;" in text
    assert "limit of 16m for telemetry batches" in text
    assert "<html" not in text
