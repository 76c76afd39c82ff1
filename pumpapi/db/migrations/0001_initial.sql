-- Pumps and their telemetry: one row per pump and timestamp, the eight channels of SPEC.
--
-- The primary key (pump_id, ts) is the only index readings need: "latest reading" and
-- "latest N readings" of a pump are a backward scan of it, whatever the table's size.
-- Later migrations (prediction log, labels) reference pumps(id).

CREATE TABLE pumps (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE pumps IS 'Diesel motor pumps (motobombas), identified by name, e.g. MOTOBOMBA-007.';

CREATE TABLE readings (
    pump_id   integer NOT NULL REFERENCES pumps (id) ON DELETE CASCADE,
    ts        timestamptz NOT NULL,
    eng_rpm   double precision NOT NULL,
    cool_t    double precision NOT NULL,
    oil_p     double precision NOT NULL,
    oil_l     double precision NOT NULL,
    recalque  double precision NOT NULL,
    succao    double precision NOT NULL,
    bat_v     double precision NOT NULL,
    char_v    double precision NOT NULL,
    PRIMARY KEY (pump_id, ts)
);

COMMENT ON TABLE readings IS 'One telemetry reading per pump and timestamp (units: see pumpapi.telemetry).';
COMMENT ON COLUMN readings.eng_rpm IS 'Eng_RPM: engine speed [rpm]';
COMMENT ON COLUMN readings.cool_t IS 'Cool_T: coolant temperature [°C]';
COMMENT ON COLUMN readings.oil_p IS 'Oil_P: oil pressure [bar]';
COMMENT ON COLUMN readings.oil_l IS 'Oil_L: oil level [% or sensor units]';
COMMENT ON COLUMN readings.recalque IS 'Recalque: discharge pressure [bar]';
COMMENT ON COLUMN readings.succao IS 'Succao: suction pressure [bar]';
COMMENT ON COLUMN readings.bat_v IS 'Bat_V: battery voltage [V]';
COMMENT ON COLUMN readings.char_v IS 'Char_V: charging (alternator) voltage [V]';
