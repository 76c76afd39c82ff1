"""Experiment (not served): does a pump's own recent history make the gru's indices better?

An hour of readings cannot tell a pump whose coolant runs 4 °C hot because of a fault from one
whose thermostat opens 4 °C later, nor a leak's lower oil level from a lower fill: the per-pump
spread hides the early faults (docs/window-models.md, "What an hour cannot carry"). This trains
the served network's architecture twice on the same windows — once as served, once with a
*pump baseline* beside the window — and scores both on an independent fleet.

The baseline, at a window: over the pump's at-load readings (Eng_RPM ≥ 1000) of the 7 days
before the window (every 10th reading), the 90th percentile of the head coefficient
(Recalque − Succao) / (rpm/1800)², of the oil-pressure coefficient Oil_P / (rpm/1800)^1.3 and of
Oil_L, and the 10th percentile of Cool_T − 0.02 (rpm − 1500); the network reads the window's
mean of the same four quantities minus the baseline, the baseline, and whether there is one.
A quarter of the training windows go without it (a posted window has none); `baseline=0.5`
drops half.

    .venv/bin/python scripts/gru_pump_baseline_experiment.py control baseline baseline=0.5

What it measured: docs/window-models.md ("What an hour cannot carry"). The baseline is served
since (pumpapi.models.baseline, "A pump's own week" there), not as this script trains it: the
served network stays as it is for posted windows, and a second network with the baseline
retrains only its dense layers on the first one's summaries (pumpapi.training.gru,
`train_baseline_network`), which read as well here at a fraction of the cost.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from pumpapi.channels import CHANNEL_NAMES
from pumpapi.devtools.simulator import simulate_fleet
from pumpapi.models.gru import WINDOW, last_run_ends, machine_windows, running
from pumpapi.training import gru as training

C = {name: i for i, name in enumerate(CHANNEL_NAMES)}
DAYS, SUBSAMPLE, AT_LOAD_RPM = 7, 10, 1000.0


def quantities(readings: np.ndarray) -> np.ndarray:
    """(…, 4) load-normalised head, oil pressure, coolant, and the oil level; NaN off load."""
    rpm = readings[..., C["Eng_RPM"]]
    speed = np.maximum(rpm, 1.0) / 1800.0
    q = np.stack(
        [
            (readings[..., C["Recalque"]] - readings[..., C["Succao"]]) / speed**2,
            readings[..., C["Oil_P"]] / speed**1.3,
            readings[..., C["Cool_T"]] - 0.02 * (rpm - 1500.0),
            readings[..., C["Oil_L"]],
        ],
        axis=-1,
    )
    return np.where((rpm >= AT_LOAD_RPM)[..., np.newaxis], q, np.nan)


def windows(fleet, stride: int = 120):
    """Windows as served, each window's quantities and its pump baseline, truth, running."""
    out = {"inputs": [], "pair": [], "truth": [], "running": []}
    for history in fleet:
        readings = np.asarray(history.readings, dtype=np.float64)
        ends = np.arange(WINDOW - 1, len(readings), stride)
        answered = last_run_ends(running(readings), ends)
        window = machine_windows(readings, ends)
        with warnings.catch_warnings():  # a window without an at-load reading: NaN, no baseline
            warnings.simplefilter("ignore", RuntimeWarning)
            means = np.nanmean(quantities(window), axis=1)
        sampled = quantities(readings[::SUBSAMPLE])
        span = DAYS * 1440 // SUBSAMPLE
        base = np.full((len(ends), 4), np.nan)
        for j, end in enumerate(answered):
            stop = max(0, (end - WINDOW + 1) // SUBSAMPLE)
            seg = sampled[max(0, stop - span) : stop]
            if np.isfinite(seg[:, 0]).sum() >= 30:
                base[j] = np.r_[
                    np.nanquantile(seg[:, :2], 0.9, axis=0),
                    np.nanquantile(seg[:, 2], 0.1),
                    np.nanquantile(seg[:, 3], 0.9),
                ]
        out["inputs"].append(window)
        out["pair"].append(np.c_[means, base])
        out["truth"].append(
            np.stack([history.lubrication_health[ends], history.hydraulic_health[ends]], axis=1)
        )
        out["running"].append(running(readings[ends]))
    return {k: np.concatenate(v) for k, v in out.items()}


def block(pair, mu, sd, drop=None) -> np.ndarray:
    means, base = pair[:, :4], pair[:, 4:]
    ok = np.isfinite(means).all(axis=1) & np.isfinite(base).all(axis=1)
    if drop is not None:
        ok &= ~drop
    diff = np.where(ok[:, None], (means - base) / sd, 0.0)
    level = np.where(ok[:, None], (base - mu) / sd, 0.0)
    return np.c_[diff, level, ok].astype(np.float32)


def build(units: int = 32, learning_rate: float = 3e-3):
    import keras

    served = training.build_model(units, learning_rate)
    extra = keras.Input((9,), name="baseline")
    merged = keras.layers.Concatenate()([served.get_layer("summary").output, extra])
    hidden = keras.layers.Dense(2 * units, activation="relu")(merged)
    hidden = keras.layers.Dense(units, activation="relu")(hidden)
    health = keras.layers.Dense(2, activation="sigmoid")(hidden)
    model = keras.Model([served.input, extra], health)
    model.compile(keras.optimizers.Adam(learning_rate), keras.losses.Huber(delta=0.01))
    return model


def main(modes: list[str]) -> None:
    import keras
    from sklearn.preprocessing import MinMaxScaler

    started = time.time()
    fleet = simulate_fleet(240, 30 * 1440, seed=42)
    train, validation = windows(fleet[:210]), windows(fleet[210:])
    test = windows(simulate_fleet(240, 20_000, seed=778))
    scaler = MinMaxScaler().fit(np.concatenate([p.readings for p in fleet[:210]]))

    def scaled(w):
        low, span = scaler.data_min_, scaler.data_max_ - scaler.data_min_
        return np.clip((w - low) / span, 0.0, 1.0).astype(np.float32)

    ok = np.isfinite(train["pair"]).all(axis=1)
    mu, sd = train["pair"][ok, 4:].mean(axis=0), train["pair"][ok, 4:].std(axis=0)
    rng = np.random.default_rng(42)
    noisy = training.with_sensor_noise(train["inputs"], 2.0, rng)
    for mode in modes:
        keras.utils.set_random_seed(42)
        model = build()
        n = len(noisy)
        # "baseline=0.5": half the training windows without their baseline (default a quarter).
        share = float(mode.split("=")[1]) if "=" in mode else 0.25
        drop = np.ones(n, bool) if mode == "control" else rng.uniform(size=n) < share
        vdrop = np.ones(len(validation["inputs"]), bool) if mode == "control" else None
        model.fit(
            [scaled(noisy), block(train["pair"], mu, sd, drop)],
            (train["truth"] / 100).astype(np.float32),
            validation_data=(
                [scaled(validation["inputs"]), block(validation["pair"], mu, sd, vdrop)],
                (validation["truth"] / 100).astype(np.float32),
            ),
            epochs=30,
            batch_size=256,
            verbose=0,
            callbacks=[keras.callbacks.EarlyStopping(patience=6, restore_best_weights=True)],
        )
        for name, without in (("with baseline", None), ("without", True)):
            if mode == "control" and without is None:
                continue
            dropped = None if without is None else np.ones(len(test["inputs"]), bool)
            x = [scaled(test["inputs"]), block(test["pair"], mu, sd, dropped)]
            p = model.predict(x, batch_size=2048, verbose=0) * 100
            mae = np.abs(p - test["truth"]).mean(axis=0)
            print(f"{mode} {name}: MAE lubrificacao {mae[0]:.2f}, hidraulico {mae[1]:.2f}")
    print(f"{time.time() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:] or ["control", "baseline"])
