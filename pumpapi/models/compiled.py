"""How the `xgboost` family computes its probabilities: XGBoost itself, or the booster compiled.

At publish, training turns the booster's trees into C code (treelite reads the booster, tl2cgen
writes and compiles the code) and stores the shared library beside `model.ubj`, checksummed like
every artifact. At load, `choose_predictor` serves with that library only when this process can
run it (same platform, same tl2cgen) and it answers like XGBoost on `probe_rows` (max |Δ| ≤
`TOLERANCE`); otherwise XGBoost's `inplace_predict` answers, and the reason is kept for /info.

Why: `Booster.inplace_predict` on one reading spends nearly all its time in XGBoost's Python
wrapper; the compiled library answers it through its own entry point
(`CompiledPredictor.predict_row`) about a hundred times faster, and 1,000 readings several times
faster (bench/notes.md, "Figures behind the code"). Both compute in float32; only the order of
the trees' summation differs, within `TOLERANCE`.
"""

from __future__ import annotations

import ctypes
import json
import logging
import platform
import sys
import threading
from collections.abc import Mapping, Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import xgboost

from pumpapi.channels import BY_NAME
from pumpapi.models.store import ModelVersion

log = logging.getLogger(__name__)

#: The compiled library's file in a version directory.
COMPILED_ARTIFACT = "predictor.so"
#: Largest |compiled - XGBoost| accepted on the probe rows.
TOLERANCE = 1e-6
#: `XGBOOST_PREDICTOR`: `auto` (compiled when usable and equal, else XGBoost), `xgboost` (never
#: the compiled library), `compiled` (the load fails when it cannot be used).
MODES = ("auto", "xgboost", "compiled")

#: Typical values of the channels (a running and a stopped pump): what the other features hold
#: while the probe rows sweep one feature's range. A channel not listed sits mid-range.
TYPICAL: dict[str, dict[str, float]] = {
    "running": {"Eng_RPM": 1800.0, "Oil_P": 4.5, "Bat_V": 24.1, "Char_V": 27.8},
    "stopped": {"Eng_RPM": 0.0, "Oil_P": 0.0, "Bat_V": 24.4, "Char_V": 0.0},
}
#: Points of each feature's sweep, boundaries included.
SWEEP_POINTS = 41
#: Seeded rows: uniform over the accepted ranges, and scattered around a running pump.
UNIFORM_ROWS = 150
NEAR_RUNNING_ROWS = 100
PROBE_SEED = 20_240_917


class Predictor(Protocol):
    """(n, features) float rows in feature order -> (n,) float32 probabilities."""

    kind: str

    def __call__(self, rows: np.ndarray) -> np.ndarray: ...

    def describe(self) -> dict[str, Any]: ...


class CompiledPredictorUnavailable(Exception):
    """Why a version's compiled predictor does not answer in this process.

    `level` is how loudly `auto` logs it when it falls back to XGBoost: a version published
    without a library is normal (info), one built elsewhere deserves a warning, and one that
    loads but answers differently is an error."""

    def __init__(self, message: str, level: int = logging.WARNING):
        super().__init__(message)
        self.level = level


def current_platform() -> str:
    """What a compiled library must have been built for to load here, e.g. `linux-x86_64`."""
    return f"{sys.platform}-{platform.machine()}"


def installed_version(distribution: str) -> str | None:
    """The installed version of a distribution, without importing it; None if absent."""
    try:
        return importlib_metadata.version(distribution)
    except importlib_metadata.PackageNotFoundError:
        return None


def typical_rows(feature_order: Sequence[str], feature_channels: Mapping[str, str]) -> np.ndarray:
    """A running and a stopped pump (TYPICAL), as rows in feature order."""
    channels = [BY_NAME[feature_channels[name]] for name in feature_order]
    return np.array(
        [
            [values.get(c.name, (c.minimum + c.maximum) / 2) for c in channels]
            for values in TYPICAL.values()
        ],
        dtype=np.float64,
    )


def probe_rows(feature_order: Sequence[str], feature_channels: Mapping[str, str]) -> np.ndarray:
    """The fixed rows (float32 values, as float64) both predictors must agree on.

    Every feature's accepted range (the telemetry channel's) swept at SWEEP_POINTS points,
    boundaries included, while the others hold a running pump's and a stopped pump's values;
    every feature at its minimum, at its maximum, at the typical values; and seeded rows,
    uniform over the ranges and scattered around a running pump. About 600 rows.
    """
    channels = [BY_NAME[feature_channels[name]] for name in feature_order]
    low = np.array([c.minimum for c in channels])
    high = np.array([c.maximum for c in channels])
    bases = list(typical_rows(feature_order, feature_channels))
    rows = [low, high, *bases]
    for base in bases:
        for j, channel in enumerate(channels):
            for value in np.linspace(channel.minimum, channel.maximum, SWEEP_POINTS):
                row = base.copy()
                row[j] = value
                rows.append(row)
    rng = np.random.default_rng(PROBE_SEED)
    uniform = rng.uniform(low, high, size=(UNIFORM_ROWS, len(channels)))
    near = np.clip(
        rng.normal(bases[0], 0.1 * (high - low), size=(NEAR_RUNNING_ROWS, len(channels))),
        low,
        high,
    )
    probe = np.vstack([np.array(rows), uniform, near])
    # The values the booster sees: it reads float32.
    return probe.astype(np.float32).astype(np.float64)


def split_rows(booster: xgboost.Booster, base_rows: np.ndarray) -> np.ndarray:
    """Rows at each split threshold of the booster and at its float32 neighbours (where `<`
    and `<=` part ways), the other features taken from each of `base_rows`."""
    model = json.loads(booster.save_raw("json"))
    splits: set[tuple[int, float]] = set()
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for feature, threshold, left in zip(
            tree["split_indices"], tree["split_conditions"], tree["left_children"], strict=True
        ):
            if left != -1:  # an internal node (leaves have no children)
                splits.add((int(feature), float(threshold)))
    rows = []
    for feature, threshold in sorted(splits):
        at = np.float32(threshold)
        for value in (
            np.nextafter(at, np.float32(-np.inf)),
            at,
            np.nextafter(at, np.float32(np.inf)),
        ):
            for base in base_rows:
                row = base.copy()
                row[feature] = value
                rows.append(row)
    width = base_rows.shape[1]
    return np.array(rows, dtype=np.float64).reshape(-1, width)


def check_rows(
    booster: xgboost.Booster, feature_order: Sequence[str], feature_channels: Mapping[str, str]
) -> np.ndarray:
    """The probe rows and the booster's split rows: what a compiled library is checked on."""
    return np.vstack(
        [
            probe_rows(feature_order, feature_channels),
            split_rows(booster, typical_rows(feature_order, feature_channels)),
        ]
    )


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| in float64; NaN anywhere (or a shape mismatch) counts as infinitely far."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return float("inf")
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return diff if np.isfinite(diff) else float("inf")


class XGBoostPredictor:
    """XGBoost's own `inplace_predict`: reads the array directly, no DMatrix per call."""

    kind = "xgboost"

    def __init__(self, booster: xgboost.Booster, reason: str):
        self.booster = booster
        #: Why the compiled library does not answer.
        self.reason = reason

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(rows)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason}


class CompiledPredictor:
    """A tl2cgen library: one thread per call, one call at a time.

    tl2cgen's Predictor "may be called by only one thread at a time", hence the lock (gthread
    workers run requests on several threads). With one thread it starts no OpenMP pool, so a
    library loaded in the gunicorn master before fork works in every worker.
    """

    kind = "tl2cgen"

    def __init__(self, path: Path):
        import tl2cgen

        self.path = Path(path)
        self._dmatrix = tl2cgen.DMatrix
        self._predictor = tl2cgen.Predictor(self.path, nthread=1)
        self._lock = threading.Lock()
        # One row goes straight to the library's own entry point, declared in the header
        # tl2cgen generates: `void predict(union Entry* data, int pred_margin, float* result)`
        # (an Entry is a 4-byte union whose `fvalue` is the feature). It adds each tree's
        # leaf to `result`, then applies the sigmoid. This spares the DMatrix and the output
        # arrays tl2cgen's Python wrapper builds per call, most of a call's time.
        entry = ctypes.CDLL(str(self.path)).predict
        entry.argtypes = (ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p)
        entry.restype = None
        self._predict_row = entry
        self._row = np.zeros(self._predictor.num_feature, dtype=np.float32)
        self._result = np.zeros(1, dtype=np.float32)
        self._row_address = self._row.ctypes.data
        self._result_address = self._result.ctypes.data
        #: Set by the check against XGBoost.
        self.max_abs_diff: float | None = None
        self.checked_rows = 0

    def shape_problem(self, features: int) -> str | None:
        """Why this library cannot stand for a binary classifier of `features` columns."""
        p = self._predictor
        if p.num_feature != features:
            return f"it reads {p.num_feature} features, the model {features}"
        if p.num_target != 1 or [int(c) for c in p.num_class] != [1]:
            return f"it has {p.num_target} targets of {list(p.num_class)} classes, not 1 of 1"
        if p.leaf_output_type != "float32":
            return f"it outputs {p.leaf_output_type}, not float32"
        return None

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 1:
            return self.predict_row(rows[0])
        # The values XGBoost would read: it converts every input to float32 too.
        data = np.ascontiguousarray(rows, dtype=np.float32)
        matrix = self._dmatrix(data)
        with self._lock:
            out = self._predictor.predict(matrix)
        return out.reshape(len(data))

    def predict_row(self, row: np.ndarray) -> np.ndarray:
        """One row (finite values: a missing one would be NaN) as a (1,) float32 array."""
        with self._lock:
            self._row[:] = row  # to float32, as XGBoost reads it
            self._result[0] = 0.0
            self._predict_row(self._row_address, 0, self._result_address)
            return self._result.copy()

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "max_abs_diff": self.max_abs_diff,
            "checked_rows": self.checked_rows,
        }


def difference_from_booster(
    predictor: CompiledPredictor, booster: xgboost.Booster, rows: np.ndarray
) -> float:
    """Largest |library - booster| on `rows`, both ways the library answers: a batch, and one
    row at a time (its own entry point)."""
    expected = booster.inplace_predict(rows)
    one_by_one = np.concatenate([predictor.predict_row(row) for row in rows])
    return max(max_abs_diff(predictor(rows), expected), max_abs_diff(one_by_one, expected))


def load_compiled(
    version: ModelVersion,
    booster: xgboost.Booster,
    feature_order: Sequence[str],
    feature_channels: Mapping[str, str],
) -> CompiledPredictor:
    """The version's compiled predictor, checked against `booster` on `check_rows`; raises
    CompiledPredictorUnavailable saying why it cannot answer in this process."""
    where = f"xgboost version {version.version}"
    entry = version.metadata.get("compiled_predictor")
    if not entry:
        raise CompiledPredictorUnavailable(
            f"{where} has no compiled predictor (published without one)", logging.INFO
        )
    name = entry.get("file", COMPILED_ARTIFACT)
    if name not in (version.metadata.get("files") or {}):
        raise CompiledPredictorUnavailable(f"{where}: {name} is not among its checksummed files")
    here = current_platform()
    if entry.get("platform") != here:
        raise CompiledPredictorUnavailable(
            f"{where}: {name} was compiled for {entry.get('platform')}, this process runs {here}"
        )
    tl2cgen_version = installed_version("tl2cgen")
    if tl2cgen_version is None:
        raise CompiledPredictorUnavailable(f"{where}: tl2cgen is not installed")
    if entry.get("tl2cgen_version") != tl2cgen_version:
        raise CompiledPredictorUnavailable(
            f"{where}: {name} was built with tl2cgen {entry.get('tl2cgen_version')}, this "
            f"process has {tl2cgen_version}"
        )
    try:
        predictor = CompiledPredictor(version.file(name))
    except Exception as exc:
        raise CompiledPredictorUnavailable(
            f"{where}: {name} could not be loaded ({type(exc).__name__}: {exc})", logging.ERROR
        ) from exc
    problem = predictor.shape_problem(len(feature_order))
    if problem:
        raise CompiledPredictorUnavailable(
            f"{where}: {name} does not fit: {problem}", logging.ERROR
        )
    rows = check_rows(booster, feature_order, feature_channels)
    diff = difference_from_booster(predictor, booster, rows)
    if not diff <= TOLERANCE:
        raise CompiledPredictorUnavailable(
            f"{where}: {name} differs from XGBoost by up to {diff:.3g} on {len(rows)} probe "
            f"rows (tolerance {TOLERANCE:g})",
            logging.ERROR,
        )
    predictor.max_abs_diff = diff
    predictor.checked_rows = len(rows)
    return predictor


def choose_predictor(
    mode: str,
    version: ModelVersion,
    booster: xgboost.Booster,
    feature_order: Sequence[str],
    feature_channels: Mapping[str, str],
) -> Predictor:
    """The predictor `mode` (XGBOOST_PREDICTOR) asks for; raises CompiledPredictorUnavailable
    when mode is `compiled` and the library cannot be used, ValueError for an unknown mode."""
    mode = str(mode).strip().lower()
    if mode not in MODES:
        raise ValueError(f"XGBOOST_PREDICTOR={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "xgboost":
        return XGBoostPredictor(booster, "XGBOOST_PREDICTOR=xgboost")
    try:
        predictor = load_compiled(version, booster, feature_order, feature_channels)
    except CompiledPredictorUnavailable as exc:
        if mode == "compiled":
            raise CompiledPredictorUnavailable(f"XGBOOST_PREDICTOR=compiled, but {exc}") from exc
        log.log(exc.level, "%s; XGBoost's inplace_predict answers", exc)
        return XGBoostPredictor(booster, str(exc))
    log.info(
        "xgboost version %s: the compiled predictor answers (max |diff| vs XGBoost %.2g on %d "
        "rows)",
        version.version,
        predictor.max_abs_diff,
        predictor.checked_rows,
    )
    return predictor
