"""The Keras families' two artifacts: `model.keras` (TensorFlow) and `model.tflite` (LiteRT).

Training writes both (`write_keras_artifacts`); serving runs one of them, chosen by the
`TF_BACKEND` setting (`runner_for`), for a family's `KerasFamilyModel`:

- `litert` (default): the LiteRT interpreter of `ai-edge-litert`, without TensorFlow in the
  process (a fraction of a millisecond per window and a few MB of a worker's memory, where
  TensorFlow adds hundreds: bench/notes.md). An interpreter is not thread-safe, so each thread
  of each process builds its own on first use.
- `tensorflow`: the Keras model behind a `tf.function` with a fixed input signature. TensorFlow
  is imported and the model created in the process that first predicts, never before: any TF
  op run in a gunicorn master before it forks makes every worker hang.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from pumpapi.models.base import Model
from pumpapi.models.store import Draft, ModelVersion

log = logging.getLogger(__name__)

KERAS_FILE = "model.keras"
LITERT_FILE = "model.tflite"
BACKENDS = ("litert", "tensorflow")
#: Largest difference accepted between the LiteRT artifact and the Keras model it came from
#: (outputs in model units), checked at training before a version is published.
CONVERSION_TOLERANCE = 1e-5
RECURRENT_LAYERS = ("GRU", "LSTM", "SimpleRNN")


class WindowRunner(Protocol):
    """Runs a model on a float32 batch of windows, shape (batch, timesteps, features)."""

    backend: str

    def __call__(self, batch: np.ndarray) -> np.ndarray: ...


class LiteRTRunner:
    """A LiteRT flatbuffer, run by one interpreter per (process, thread)."""

    backend = "litert"

    def __init__(self, content: bytes, num_threads: int = 1):
        self._content = content
        self._num_threads = num_threads
        self._local = threading.local()

    def _interpreter(self) -> list[Any]:
        """[pid, interpreter, input index, output index, input shape] of this thread."""
        state = getattr(self._local, "state", None)
        # A thread-local copied by fork() belongs to the parent: rebuild in the child.
        if state is None or state[0] != os.getpid():
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_content=self._content, num_threads=self._num_threads)
            interpreter.allocate_tensors()
            details = interpreter.get_input_details()[0]
            state = [
                os.getpid(),
                interpreter,
                details["index"],
                interpreter.get_output_details()[0]["index"],
                tuple(details["shape"]),
            ]
            self._local.state = state
        return state

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        state = self._interpreter()
        _, interpreter, input_index, output_index, shape = state
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        # The input shape is kept rather than asked of the interpreter (get_input_details
        # builds a dict of every detail on every call).
        if shape != batch.shape:
            interpreter.resize_tensor_input(input_index, batch.shape, strict=True)
            interpreter.allocate_tensors()
            state[4] = batch.shape
        interpreter.set_tensor(input_index, batch)
        interpreter.invoke()
        # get_tensor copies; the interpreter's buffer is reused by the next call.
        return interpreter.get_tensor(output_index)


class KerasRunner:
    """The `.keras` model run by TensorFlow, created lazily in the process that first predicts."""

    backend = "tensorflow"

    def __init__(self, path: Path, num_threads: int = 1):
        self._path = path
        self._num_threads = num_threads
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._function: Any = None

    def _compiled(self) -> Any:
        if self._pid == os.getpid():
            return self._function
        with self._lock:
            if self._pid != os.getpid():
                self._function = self._build()
                self._pid = os.getpid()
        return self._function

    def _build(self) -> Any:
        import tensorflow as tf

        with contextlib.suppress(RuntimeError):  # already set if TF ran before in this process
            tf.config.threading.set_intra_op_parallelism_threads(self._num_threads)
            tf.config.threading.set_inter_op_parallelism_threads(self._num_threads)
        import keras

        model = keras.models.load_model(self._path, compile=False)
        signature = tf.TensorSpec((None, *model.input_shape[1:]), tf.float32)
        # predict() and predict_on_batch cost milliseconds per window; a traced, XLA-compiled
        # function with a fixed signature a fraction of one (bench/notes.md).
        function = tf.function(
            lambda x: model(x, training=False), input_signature=[signature], jit_compile=True
        )
        log.info("keras model %s loaded in process %d", self._path, os.getpid())
        return function

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        function = self._compiled()
        return function(np.ascontiguousarray(batch, dtype=np.float32)).numpy()


def runner_for(version: ModelVersion, config: Mapping[str, Any]) -> WindowRunner:
    """The runner of a stored Keras-family version for the configured `TF_BACKEND`.

    Reads the LiteRT artifact into memory now (the master's copy is shared by the workers); the
    `tensorflow` backend only notes where the Keras model is.
    """
    backend = config.get("TF_BACKEND", "litert")
    threads = int(config.get("PREDICT_THREADS", 1))
    if backend == "litert":
        name = version.metadata.get("artifacts", {}).get("litert")
        if not name:
            reason = version.metadata.get("litert_error", "no LiteRT artifact was written")
            raise RuntimeError(
                f"{version.family} version {version.version} has no LiteRT artifact ({reason}); "
                "serve it with PUMPAPI_TF_BACKEND=tensorflow"
            )
        return LiteRTRunner(version.file(name).read_bytes(), num_threads=threads)
    if backend == "tensorflow":
        return KerasRunner(version.file(version.metadata["artifacts"]["keras"]), threads)
    raise ValueError(f"TF_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")


def artifact_info(version: ModelVersion, backend: str) -> dict[str, Any]:
    """The /info fields describing a Keras-family version's files and the one being served.

    `file_size_mb` and `last_modified` (UTC) are those of the Keras model, as the seed's
    /model/gru/info reported them; `checksum` is the sha256 of the artifact actually served.
    """
    artifacts = version.metadata["artifacts"]
    keras_file = version.file(artifacts["keras"])
    stat = keras_file.stat()
    served = artifacts["litert"] if backend == "litert" else artifacts["keras"]
    return {
        "file_size_mb": round(stat.st_size / 1e6, 2),
        "last_modified": dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
        "backend": backend,
        "served_artifact": served,
        "checksum": {"file": served, "sha256": version.metadata["files"][served]["sha256"]},
    }


class KerasFamilyModel(Model):
    """A Keras family's version, run on windows by the runner of the configured backend.

    Subclasses set the window they read (`timesteps` × `n_features`) and `n_outputs`; load()
    refuses artifacts of another shape, and info() answers the fields the families share.
    """

    timesteps: ClassVar[int]
    n_features: ClassVar[int]
    n_outputs: ClassVar[int]

    runner: WindowRunner

    def load(self) -> None:
        meta = self.metadata
        for key, expected in (
            ("input_shape", [None, self.timesteps, self.n_features]),
            ("output_shape", [None, self.n_outputs]),
        ):
            if meta.get(key) != expected:
                raise ValueError(f"{key} {meta.get(key)} is not {expected}")
        self.runner = runner_for(self.version, self.config)

    def warmup(self) -> None:
        # The tensorflow backend must not run anything before gunicorn forks (see above).
        if self.runner.backend == "litert":
            self.runner(np.zeros((1, self.timesteps, self.n_features), dtype=np.float32))

    def input_info(self) -> dict[str, Any]:
        """The family's own /info fields, answered after `timesteps`."""
        return {}

    def info(self) -> dict[str, Any]:
        meta = self.metadata
        return {
            "model_type": meta["model_type"],
            "library": meta["library"],
            "input_shape": meta["input_shape"],
            "output_shape": meta["output_shape"],
            "timesteps": self.timesteps,
            **self.input_info(),
            **artifact_info(self.version, self.runner.backend),
            "version": self.version.version,
            "created_at": meta.get("created_at"),
            "metrics": meta.get("metrics", {}),
            "training": meta.get("training", {}),
            "tags": meta.get("tags", {}),
            # `pumpapi evaluate` on independent fleets (pumpapi.evaluation), when it was run.
            "evaluation": meta.get("evaluation"),
        }


def convert_keras(model: Any) -> bytes:
    """Convert a Keras model to a LiteRT flatbuffer with built-in ops only.

    Recurrent layers are rebuilt unrolled (same weights): the default conversion of a GRU/LSTM
    emits TensorList ops, which need the Select-TF-ops runtime that LiteRT does not have.
    """
    import tensorflow as tf

    config = model.get_config()
    for layer in config.get("layers", []):
        if layer.get("class_name") in RECURRENT_LAYERS:
            layer["config"]["unroll"] = True
    unrolled = type(model).from_config(config)
    unrolled.set_weights(model.get_weights())
    converter = tf.lite.TFLiteConverter.from_keras_model(unrolled)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    # The converter prints the SavedModel it exports on the way; keep training output readable.
    with contextlib.redirect_stdout(io.StringIO()):
        return converter.convert()


def write_keras_artifacts(draft: Draft, model: Any, check_windows: np.ndarray) -> dict[str, Any]:
    """Save `model` as `model.keras` and `model.tflite` in the draft; return their metadata.

    The LiteRT artifact is run on `check_windows` and compared with Keras: beyond
    CONVERSION_TOLERANCE training fails rather than publish a model that answers differently.
    A model that cannot be converted is still published, without `model.tflite`, and records
    why (it can be served with the `tensorflow` backend).
    """
    model.save(draft.file(KERAS_FILE))
    meta: dict[str, Any] = {
        "model_type": type(model).__name__,
        "library": "tensorflow.keras",
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "artifacts": {"keras": KERAS_FILE, "litert": None},
    }
    try:
        content = convert_keras(model)
    except Exception as exc:  # a model LiteRT cannot run is still servable by TensorFlow
        log.warning("LiteRT conversion failed, publishing the Keras model only: %s", exc)
        meta["litert_error"] = f"{type(exc).__name__}: {exc}"
        return meta
    expected = np.asarray(model.predict_on_batch(check_windows.astype(np.float32)))
    served = LiteRTRunner(content)(check_windows)
    difference = float(np.max(np.abs(served - expected)))
    if difference > CONVERSION_TOLERANCE:
        raise RuntimeError(
            f"the LiteRT artifact differs from the Keras model by {difference:.2e} "
            f"(tolerance {CONVERSION_TOLERANCE:.0e}); not publishing it"
        )
    draft.file(LITERT_FILE).write_bytes(content)
    meta["artifacts"]["litert"] = LITERT_FILE
    meta["litert_check"] = {"windows": len(check_windows), "max_abs_diff": difference}
    return meta
