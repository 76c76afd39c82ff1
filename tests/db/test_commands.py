"""`pumpapi db init` (pumpapi.db.commands)."""

import psycopg

from pumpapi.db.schema import applied_migrations, migrations

ALL = [name for name, _ in migrations()]


def test_db_init_creates_then_reports_up_to_date(make_app, empty_database_url):
    runner = make_app(DATABASE_URL=empty_database_url).test_cli_runner()
    first = runner.invoke(args=["db", "init"])
    assert first.exit_code == 0, first.output
    assert f"Applied {len(ALL)} migration(s): {', '.join(ALL)}." in first.output
    second = runner.invoke(args=["db", "init"])
    assert second.exit_code == 0, second.output
    assert "nothing applied" in second.output
    with psycopg.connect(empty_database_url) as conn:
        assert applied_migrations(conn) == ALL


def test_db_init_accepts_a_sqlalchemy_style_url(make_app, empty_database_url):
    url = empty_database_url.replace("postgresql://", "postgresql+psycopg2://")
    result = make_app(DATABASE_URL=url).test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 0, result.output
    assert ALL[-1] in result.output


def test_db_init_without_database_url_fails_saying_so(runner):
    result = runner.invoke(args=["db", "init"])
    assert result.exit_code != 0
    assert "DATABASE_URL is not set" in result.output


def test_db_init_with_database_down_fails_cleanly(make_app):
    url = "postgresql://pumpapi@127.0.0.1:9/nothing"  # port 9 (discard): nobody listens
    result = make_app(DATABASE_URL=url).test_cli_runner().invoke(args=["db", "init"])
    assert result.exit_code == 1
    assert "Cannot reach the database" in result.output
    assert "Traceback" not in result.output
