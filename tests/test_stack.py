"""The nginx configuration renderer and the rendered files checked into deploy/."""

from __future__ import annotations

from pathlib import Path

import pytest

from pumpapi.stack import NginxConfig

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


def test_every_location_retries_on_another_instance():
    text = NginxConfig(upstreams=["127.0.0.1:1", "127.0.0.1:2"]).render()
    retries = [line.strip() for line in text.splitlines() if "proxy_next_upstream " in line]
    # One server-wide rule, ingestion included (it is idempotent): no location narrows it.
    assert retries == [
        "proxy_next_upstream error timeout invalid_header http_502 http_503 non_idempotent;"
    ]
    assert "location = /machine/telemetry" in text
