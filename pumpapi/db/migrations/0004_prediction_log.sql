-- The prediction log: every prediction the service made, one row per answer (a batch's rows
-- each get one), partitioned by day so that retention drops whole partitions instead of
-- deleting rows.
--
-- Written off the request path by each worker (pumpapi.db.predictions), in batches, through the
-- writer role. Partitions are created and dropped by the two functions below, which run with
-- the owner's rights (SECURITY DEFINER): the writer role needs no DDL privilege.

CREATE TABLE predictions (
    ts          timestamptz NOT NULL,
    request_id  text NOT NULL,
    machine     text,
    family      text NOT NULL,
    version     text NOT NULL,
    route       text NOT NULL,
    row_index   integer NOT NULL DEFAULT 0,
    inputs      jsonb NOT NULL,
    output      jsonb NOT NULL,
    latency_ms  real NOT NULL,
    shadow      boolean NOT NULL DEFAULT false
) PARTITION BY RANGE (ts);

CREATE INDEX predictions_family_version_ts ON predictions (family, version, ts);
CREATE INDEX predictions_machine_ts ON predictions (machine, ts);

COMMENT ON TABLE predictions IS
    'Every prediction served: inputs, output, model version, latency (partitioned by day).';
COMMENT ON COLUMN predictions.machine IS 'The pump, where the request named one (/machine/...).';
COMMENT ON COLUMN predictions.row_index IS 'Position of the row in a batch request (0 otherwise).';
COMMENT ON COLUMN predictions.shadow IS
    'The candidate''s answer to a sampled request, scored off the response path (not sent).';

-- Creates the day partitions of [first_day, first_day + days) that are missing; returns how many
-- it created. Serialised by an advisory lock, so workers calling it at once never collide.
CREATE FUNCTION prediction_log_partitions(first_day date, days integer) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    day date;
    name text;
    created integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('pumpapi prediction_log partitions'));
    FOR i IN 0 .. days - 1 LOOP
        day := first_day + i;
        name := 'predictions_' || to_char(day, 'YYYYMMDD');
        IF to_regclass(name) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I PARTITION OF predictions FOR VALUES FROM (%L) TO (%L)',
                name, day::timestamp AT TIME ZONE 'UTC', (day + 1)::timestamp AT TIME ZONE 'UTC'
            );
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END;
$$;

-- Drops the day partitions wholly before `cutoff` (retention); returns how many it dropped.
CREATE FUNCTION prediction_log_drop_before(cutoff date) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    part text;
    dropped integer := 0;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('pumpapi prediction_log partitions'));
    FOR part IN
        SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'predictions'::regclass AND c.relname ~ '^predictions_[0-9]{8}$'
    LOOP
        IF to_date(substr(part, 13), 'YYYYMMDD') < cutoff THEN
            EXECUTE format('DROP TABLE %I', part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$$;

-- Functions are executable by PUBLIC unless revoked: only the roles granted below may call them.
REVOKE EXECUTE ON FUNCTION prediction_log_partitions(date, integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION prediction_log_drop_before(date) FROM PUBLIC;
