-- PumpAPI's two database roles, granted what each needs and nothing more.
--
--   {reader}: the serving path (DATABASE_URL): reads pumps and readings.
--   {writer}: ingestion (INGEST_DATABASE_URL, `pumpapi telemetry load`) and the prediction log:
--             reads, adds pumps, readings (through a temporary staging table), events and
--             predictions; never updates or deletes.
--
-- Applied by `pumpapi db roles` (pumpapi.db.roles.grant_roles), which creates the roles when
-- missing and fills in the quoted names of the roles, the schema and the database. Run it after
-- `pumpapi db init`, and again after a migration that adds a table. Schema changes stay with
-- the owner of the schema (the role that ran `pumpapi db init`).

GRANT CONNECT ON DATABASE {database} TO {reader}, {writer};
GRANT USAGE ON SCHEMA {schema} TO {reader}, {writer};

GRANT SELECT ON {schema}.pumps, {schema}.readings, {schema}.events, {schema}.predictions,
    {schema}.schema_migrations TO {reader};
-- Tables a later migration adds are readable too (the next `pumpapi db roles`, which
-- `make serve` and `make stack` run at every start, grants them explicitly anyway).
GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {reader};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {reader};
-- Nobody but the owner creates objects in the schema (PostgreSQL before 15 let PUBLIC).
REVOKE CREATE ON SCHEMA {schema} FROM PUBLIC;
-- Belt and braces: even a table granted by mistake later cannot be written by the reader.
ALTER ROLE {reader} SET default_transaction_read_only = on;

GRANT SELECT ON {schema}.pumps, {schema}.readings, {schema}.events, {schema}.schema_migrations
    TO {writer};
GRANT INSERT ON {schema}.pumps, {schema}.readings, {schema}.events TO {writer};
-- The prediction log: rows added in batches, day partitions created and dropped through the
-- owner's functions (the writer has no DDL right of its own).
GRANT INSERT ON {schema}.predictions TO {writer};
GRANT EXECUTE ON FUNCTION {schema}.prediction_log_partitions(date, integer),
    {schema}.prediction_log_drop_before(date) TO {writer};
-- The staging table of each batch is temporary.
GRANT TEMPORARY ON DATABASE {database} TO {writer};
