-- Most predictions name no pump (the /model/* routes): indexing their NULL machine cost every
-- such row an index insert that no query uses (history reads `machine = …` or
-- `machine IS NOT NULL`). A partial index keeps the pump queries fast and the hot path lighter.

DROP INDEX predictions_machine_ts;
CREATE INDEX predictions_machine_ts ON predictions (machine, ts) WHERE machine IS NOT NULL;
