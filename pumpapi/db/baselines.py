"""Pumps' baselines (pumpapi.models.baseline) from their stored readings, kept per process.

One grouped query computes the baselines of any number of pumps, each for its own window
start: the percentiles of its at-load readings of the DAYS before. A pump's baseline moves
slowly (it is a week's percentile), so a process keeps each one and reads it again only when
the window it serves starts more than REFRESH after the one it was computed for: a pump asked
every minute costs one query an hour, and the fleet table at most one grouped query of CHUNK
pumps a page once its baselines are kept (the rest wait their turn, used up to STALE_AFTER).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from psycopg import sql

from pumpapi.models.baseline import (
    AT_LOAD_RPM,
    COOLANT_REFERENCE_RPM,
    DAYS,
    MIN_AT_LOAD_READINGS,
    PERCENTILES,
    QUANTITIES,
    REFERENCE_RPM,
    LoadNormalisation,
)

#: How much later a window may start than the one a kept baseline was computed for before it
#: is read again (at most CHUNK pumps a call, the oldest first)...
REFRESH = dt.timedelta(hours=1)
#: ...and before it is not used any more (read again, however many pumps that is).
STALE_AFTER = dt.timedelta(hours=6)

#: Pumps per query: a week of 64 pumps' readings is read in about a third of a second here,
#: well inside the statement timeout, whatever the fleet's size.
CHUNK = 64

#: The quantities as pumpapi.models.baseline.LoadNormalisation.quantities defines them.
_EXPRESSIONS = {
    "head": "(r.recalque - r.succao)"
    " / power(r.eng_rpm / %(reference_rpm)s, %(head_exponent)s::float8)",
    "oil_pressure": "r.oil_p / power(r.eng_rpm / %(reference_rpm)s,"
    " %(oil_pressure_exponent)s::float8)",
    "coolant": "r.cool_t - %(coolant_slope)s::float8 * (r.eng_rpm - %(coolant_reference_rpm)s)",
    "oil_level": "r.oil_l",
}

#: Per pump named, the count of its at-load readings in [start - DAYS, start) and the
#: percentile of each quantity over them.
BASELINES_SQL = (
    sql.SQL(
        "SELECT b.name, count(*), {percentiles}"
        " FROM unnest(%(names)s::text[], %(starts)s::timestamptz[]) AS b(name, start)"
        " JOIN pumps AS p ON p.name = b.name"
        " JOIN readings AS r ON r.pump_id = p.id"
        " AND r.ts >= b.start - %(span)s AND r.ts < b.start AND r.eng_rpm >= %(at_load_rpm)s"
        " GROUP BY b.name"
    )
    .format(
        percentiles=sql.SQL(", ").join(
            sql.SQL("percentile_cont({q}) WITHIN GROUP (ORDER BY {e})").format(
                q=sql.Literal(q), e=sql.SQL(_EXPRESSIONS[name])
            )
            for name, q in zip(QUANTITIES, PERCENTILES, strict=True)
        )
    )
    .as_string()
)


def query_parameters(
    normalisation: LoadNormalisation, starts: Mapping[str, dt.datetime]
) -> dict[str, Any]:
    """BASELINES_SQL's parameters for the pumps and window starts of `starts`."""
    return {
        **normalisation.to_json(),
        "reference_rpm": REFERENCE_RPM,
        "coolant_reference_rpm": COOLANT_REFERENCE_RPM,
        "at_load_rpm": AT_LOAD_RPM,
        "span": dt.timedelta(days=DAYS),
        "names": list(starts),
        "starts": list(starts.values()),
    }


class BaselineCache:
    """A process's pump baselines: (pump, normalisation) -> (window start, baseline or None)."""

    def __init__(self) -> None:
        self._kept: dict[tuple[str, LoadNormalisation], tuple[dt.datetime, np.ndarray | None]] = {}
        self._lock = threading.Lock()

    def get(
        self,
        read: Callable[[str, dict[str, Any]], list[tuple[Any, ...]]],
        normalisation: LoadNormalisation,
        starts: Mapping[str, dt.datetime],
    ) -> dict[str, np.ndarray | None]:
        """Each named pump's baseline (4 values) for a window starting at its start, or None
        if it had fewer than MIN_AT_LOAD_READINGS at load in the DAYS before; `read(query,
        parameters)` runs BASELINES_SQL for the pumps not kept (or kept from too long ago)."""
        out: dict[str, np.ndarray | None] = {}
        missing: dict[str, dt.datetime] = {}
        stale: list[tuple[dt.datetime, str]] = []
        with self._lock:
            for name, start in starts.items():
                kept = self._kept.get((name, normalisation))
                if kept is None or not kept[0] <= start < kept[0] + STALE_AFTER:
                    missing[name] = start
                    continue
                out[name] = kept[1]
                if start >= kept[0] + REFRESH:
                    stale.append((kept[0], name))
        # Kept baselines past REFRESH are read again CHUNK at a time, the oldest first: a fleet
        # whose baselines were all read at once does not read them all again at once an hour
        # later (each answer meanwhile uses one at most STALE_AFTER old).
        room = -len(missing) % CHUNK if missing else CHUNK  # what the last query has free
        for _, name in sorted(stale)[:room]:
            missing[name] = starts[name]
        if not missing:
            return out
        found: dict[str, np.ndarray | None] = {name: None for name in missing}
        names = list(missing)
        for first in range(0, len(names), CHUNK):
            chunk = {name: missing[name] for name in names[first : first + CHUNK]}
            for name, count, *values in read(BASELINES_SQL, query_parameters(normalisation, chunk)):
                if count >= MIN_AT_LOAD_READINGS and None not in values:
                    found[name] = np.array(values, dtype=np.float64)
        with self._lock:
            for name, values in found.items():
                self._kept[(name, normalisation)] = (missing[name], values)
        return out | found
