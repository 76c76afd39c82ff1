-- What happened to each pump: failures (with their cause) and maintenance actions.
--
-- The labels a real fleet's models learn from and are judged against: a failure within the
-- horizon after a reading (xgboost), the condition an inspection measured (gru). One row per
-- pump, time and kind, so a batch sent twice stores its events once (ON CONFLICT DO NOTHING).
-- Few rows (a handful per pump and month): a foreign key to pumps costs nothing here.

CREATE TABLE events (
    pump_id      integer NOT NULL REFERENCES pumps (id) ON DELETE CASCADE,
    ts           timestamptz NOT NULL,
    kind         text NOT NULL CHECK (
                     kind IN ('failure', 'repair', 'oil_change', 'battery_replaced', 'inspection')
                 ),
    cause        text CHECK (
                     cause IN ('oil_leak', 'overheating', 'cavitation', 'charging_fault', 'other')
                 ),
    lubrificacao double precision CHECK (lubrificacao BETWEEN 0 AND 100),
    hidraulico   double precision CHECK (hidraulico BETWEEN 0 AND 100),
    note         text CHECK (length(note) <= 500),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (pump_id, ts, kind),
    -- A failure says why; only an inspection measures the subsystems' condition.
    CHECK (kind <> 'failure' OR cause IS NOT NULL),
    CHECK (kind = 'inspection' OR (lubrificacao IS NULL AND hidraulico IS NULL))
);

CREATE INDEX events_ts ON events (ts);

COMMENT ON TABLE events IS 'Failures and maintenance of each pump: the labels of a real fleet.';
COMMENT ON COLUMN events.cause IS 'For a failure (required) or a repair: the fault behind it.';
COMMENT ON COLUMN events.lubrificacao IS 'Inspection: measured lubrication condition, 0-100.';
COMMENT ON COLUMN events.hidraulico IS 'Inspection: measured hydraulic condition, 0-100.';
