"""The read-only and writer roles (pumpapi/db/roles.sql): what each may do, and the app on them."""

import uuid
from urllib.parse import quote

import psycopg
import pytest

from pumpapi import db
from pumpapi.db.roles import grant_roles
from tests.fixtures.db import TEST_DB

KEY = "test-ingest-key"


@pytest.fixture
def roles(pg_cluster, database_url):
    """A reader and a writer granted on the test's schema; their URLs; dropped afterwards."""
    suffix = uuid.uuid4().hex[:8]
    reader, writer = f"reader_{suffix}", f"writer_{suffix}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        created = grant_roles(conn, reader, writer)
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
    assert created == [reader, writer]
    options = quote(f"-csearch_path={schema}")

    def url(role):
        return f"postgresql://{role}@127.0.0.1:{pg_cluster.port}/{TEST_DB}?options={options}"

    yield url(reader), url(writer)
    with psycopg.connect(pg_cluster.url(TEST_DB), autocommit=True) as conn:
        for role in (reader, writer):
            conn.execute(f'DROP OWNED BY "{role}"')  # noqa: S608 - names made above
            conn.execute(f'DROP ROLE "{role}"')


def test_granting_twice_is_harmless(database_url, roles):
    reader = roles[0].split("@")[0].removeprefix("postgresql://")
    writer = roles[1].split("@")[0].removeprefix("postgresql://")
    with psycopg.connect(database_url, autocommit=True) as conn:
        assert grant_roles(conn, reader, writer) == []


def test_role_names_that_are_not_plain_identifiers_are_refused(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        with pytest.raises(ValueError, match="lower-case identifiers"):
            grant_roles(conn, 'x"; DROP TABLE readings; --', "writer")


def test_the_reader_reads_and_cannot_write(roles):
    reader_url, _ = roles
    with psycopg.connect(reader_url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-666')")
        conn.execute("SET default_transaction_read_only = off")  # even so, no privilege
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-666')")


def test_the_writer_adds_but_cannot_change_or_delete(roles):
    _, writer_url = roles
    with psycopg.connect(writer_url, autocommit=True) as conn:
        conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-001')")
        for statement in (
            "UPDATE pumps SET name = 'x'",
            "DELETE FROM pumps",
            "DROP TABLE readings",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)


def test_serving_reads_with_the_reader_while_ingestion_writes_with_the_writer(make_app, roles):
    reader_url, writer_url = roles
    app = make_app(DATABASE_URL=reader_url, INGEST_DATABASE_URL=writer_url, INGEST_API_KEYS=(KEY,))
    client = app.test_client()
    reading = {
        "machine": "MOTOBOMBA-007",
        "timestamp": "2025-09-27T13:30:00Z",
        "Eng_RPM": 1800.0, "Cool_T": 82.0, "Oil_P": 4.5, "Oil_L": 78.0,
        "Recalque": 6.0, "Succao": 1.1, "Bat_V": 24.6, "Char_V": 27.8,
    }  # fmt: skip
    try:
        sent = client.post(
            "/machine/telemetry", json={"readings": [reading]}, headers={"X-API-Key": KEY}
        )
        assert sent.status_code == 200, sent.get_json()
        assert sent.get_json()["inserted"] == 1
        listed = client.get("/machines").get_json()
        assert [m["machine"] for m in listed["machines"]] == ["MOTOBOMBA-007"]
        assert client.get("/health/ready").get_json()["components"]["database"]["ready"] is True
    finally:
        db.store(app).close()
        db.writer(app).close()


def test_ingestion_given_the_reader_answers_503_saying_what_to_fix(make_app, roles):
    reader_url, _ = roles
    app = make_app(DATABASE_URL=reader_url, INGEST_API_KEYS=(KEY,))
    reading = {"machine": "MOTOBOMBA-007", "timestamp": "2025-09-27T13:30:00Z"}
    reading |= dict.fromkeys(
        ["Eng_RPM", "Cool_T", "Oil_P", "Oil_L", "Recalque", "Succao", "Bat_V", "Char_V"], 1.0
    )
    try:
        response = app.test_client().post(
            "/machine/telemetry", json={"readings": [reading]}, headers={"X-API-Key": KEY}
        )
    finally:
        db.store(app).close()
    assert response.status_code == 503
    assert "INGEST_DATABASE_URL" in response.get_json()["error"]
    assert response.headers["Retry-After"]


def test_events_are_written_by_the_writer_and_read_by_the_reader(make_app, roles):
    reader_url, writer_url = roles
    event = {"machine": "MOTOBOMBA-007", "timestamp": "2025-09-27T13:30:00Z", "kind": "repair"}
    app = make_app(DATABASE_URL=reader_url, INGEST_DATABASE_URL=writer_url, INGEST_API_KEYS=(KEY,))
    alone = make_app(DATABASE_URL=reader_url, INGEST_API_KEYS=(KEY,))
    try:
        client = app.test_client()
        sent = client.post("/machine/events", json={"events": [event]}, headers={"X-API-Key": KEY})
        assert sent.status_code == 200 and sent.get_json()["inserted"] == 1
        assert client.get("/machine/events").get_json()["count"] == 1
        refused = alone.test_client().post(
            "/machine/events", json={"events": [event]}, headers={"X-API-Key": KEY}
        )
        assert refused.status_code == 503
        assert "INGEST_DATABASE_URL" in refused.get_json()["error"]
    finally:
        for each in (app, alone):
            db.store(each).close()
            db.writer(each).close()


def test_least_privilege_serves_as_a_role_that_cannot_write(database_url, tmp_path):
    """What `make serve` and `make stack` run as: the reader (DATABASE_URL) can only SELECT,
    whatever it tries; the writer adds telemetry; no password in either URL (a 0600 passfile)."""
    import stat

    from pumpapi.db import roles

    urls = roles.least_privilege(database_url, tmp_path / "secrets")
    secrets = tmp_path / "secrets"
    for path in secrets.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for url in (urls.reader, urls.writer):
        assert "password" not in url and f"passfile={secrets / 'pgpass'}" in url
    with psycopg.connect(urls.reader, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (roles.READER,)
        assert conn.execute("SELECT count(*) FROM readings").fetchone() == (0,)
        conn.execute("SET default_transaction_read_only = off")  # no way round it
        for statement in (
            "INSERT INTO pumps (name) VALUES ('MOTOBOMBA-666')",
            "UPDATE pumps SET name = 'x'",
            "DELETE FROM readings",
            "TRUNCATE readings",
            "CREATE TABLE stolen (x int)",
            "DROP TABLE readings",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(statement)
    with psycopg.connect(urls.writer, autocommit=True) as conn:
        conn.execute("INSERT INTO pumps (name) VALUES ('MOTOBOMBA-777')")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM pumps")
    # Granting again (the next `make serve`) keeps the same passwords and works.
    assert roles.least_privilege(database_url, tmp_path / "secrets") == urls


def test_one_lifecycle_opens_and_closes_the_reader_and_the_writer(make_app, roles):
    """What gunicorn's post_worker_init and worker_exit call: both pools, created closed."""
    reader_url, writer_url = roles
    app = make_app(DATABASE_URL=reader_url, INGEST_DATABASE_URL=writer_url, PREDICTION_LOG=True)
    reader, writer = db.store(app), db.writer(app)
    assert reader is not writer
    assert reader._pool is None and writer._pool is None  # nothing opened before fork
    db.open_worker(app)
    try:
        for store, role in ((reader, "reader_"), (writer, "writer_")):
            assert store._pool is not None
            user = store.run(lambda conn: conn.execute("SELECT current_user").fetchone()[0])
            assert user.startswith(role)
    finally:
        db.close_worker(app)
    assert reader._pool is None and writer._pool is None


def test_without_a_writer_url_writes_go_through_the_reader_store(make_app, database_url):
    app = make_app(DATABASE_URL=database_url)
    assert db.writer(app) is db.store(app)
    db.open_worker(app)
    db.close_worker(app)
    assert db.store(app)._pool is None
