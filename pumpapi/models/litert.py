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
from collections.abc import Mapping, Sequence
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

    def __call__(self, batch: np.ndarray, *more: np.ndarray) -> np.ndarray: ...


class LiteRTRunner:
    """A LiteRT flatbuffer, run by one interpreter per (process, thread)."""

    backend = "litert"

    def __init__(
        self, content: bytes, num_threads: int = 1, input_names: Sequence[str] = ("readings",)
    ):
        self._content = content
        self._num_threads = num_threads
        self._input_names = tuple(input_names)
        self._local = threading.local()

    def _interpreter(self) -> list[Any]:
        """[pid, interpreter, input indices, output index, input shapes] of this thread."""
        state = getattr(self._local, "state", None)
        # A thread-local copied by fork() belongs to the parent: rebuild in the child.
        if state is None or state[0] != os.getpid():
            from ai_edge_litert.interpreter import Interpreter

            interpreter = Interpreter(model_content=self._content, num_threads=self._num_threads)
            interpreter.allocate_tensors()
            details = interpreter.get_input_details()
            if len(details) > 1:  # in the Keras model's order of inputs (their names)
                details = [
                    next(d for d in details if d["name"].split(":")[0].endswith(name))
                    for name in self._input_names
                ]
            state = [
                os.getpid(),
                interpreter,
                [d["index"] for d in details],
                interpreter.get_output_details()[0]["index"],
                [tuple(d["shape"]) for d in details],
            ]
            self._local.state = state
        return state

    def __call__(self, batch: np.ndarray, *more: np.ndarray) -> np.ndarray:
        """The outputs for a batch of windows (and of the model's further inputs, if any)."""
        state = self._interpreter()
        _, interpreter, input_indices, output_index, shapes = state
        batches = [np.ascontiguousarray(b, dtype=np.float32) for b in (batch, *more)]
        # The input shapes are kept rather than asked of the interpreter (get_input_details
        # builds a dict of every detail on every call).
        if any(s != b.shape for s, b in zip(shapes, batches, strict=True)):
            for index, b in zip(input_indices, batches, strict=True):
                interpreter.resize_tensor_input(index, b.shape, strict=True)
            interpreter.allocate_tensors()
            state[4] = [b.shape for b in batches]
        for index, b in zip(input_indices, batches, strict=True):
            interpreter.set_tensor(index, b)
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
        shapes = model.input_shape if isinstance(model.input_shape, list) else [model.input_shape]
        signature = [tf.TensorSpec((None, *shape[1:]), tf.float32) for shape in shapes]
        # predict() and predict_on_batch cost milliseconds per window; a traced, XLA-compiled
        # function with a fixed signature a fraction of one (bench/notes.md).
        function = tf.function(
            lambda *x: model(list(x) if len(x) > 1 else x[0], training=False),
            input_signature=signature,
            jit_compile=True,
        )
        log.info("keras model %s loaded in process %d", self._path, os.getpid())
        return function

    def __call__(self, batch: np.ndarray, *more: np.ndarray) -> np.ndarray:
        function = self._compiled()
        return function(
            *(np.ascontiguousarray(b, dtype=np.float32) for b in (batch, *more))
        ).numpy()


def runner_for(
    version: ModelVersion,
    config: Mapping[str, Any],
    artifacts: Mapping[str, Any] | None = None,
    input_names: Sequence[str] = ("readings",),
) -> WindowRunner:
    """The runner of a stored Keras-family version for the configured `TF_BACKEND`: of its
    network (`artifacts` of its metadata), or of another one it carries (`artifacts` given,
    with the Keras model's `input_names` in order).

    Reads the LiteRT artifact into memory now (the master's copy is shared by the workers); the
    `tensorflow` backend only notes where the Keras model is.
    """
    backend = config.get("TF_BACKEND", "litert")
    threads = int(config.get("PREDICT_THREADS", 1))
    found = version.metadata if artifacts is None else artifacts
    if backend == "litert":
        name = found.get("artifacts", {}).get("litert")
        if not name:
            reason = found.get("litert_error", "no LiteRT artifact was written")
            raise RuntimeError(
                f"{version.family} version {version.version} has no LiteRT artifact ({reason}); "
                "serve it with PUMPAPI_TF_BACKEND=tensorflow"
            )
        return LiteRTRunner(version.file(name).read_bytes(), threads, input_names)
    if backend == "tensorflow":
        return KerasRunner(version.file(found["artifacts"]["keras"]), threads)
    raise ValueError(f"TF_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}")


def artifact_info(version: ModelVersion, backend: str) -> dict[str, Any]:
    """The /info fields describing a Keras-family version's files and the one being served.

    `file_size_mb` and `last_modified` (UTC) are those of the Keras model, as the seed's
    /model/gru/info reported them; `checksum` is the sha256 of the artifact actually served.
    """
    stat = version.file(version.metadata["artifacts"]["keras"]).stat()
    checksum = served_checksum(version, version.metadata["artifacts"], backend)
    return {
        "file_size_mb": round(stat.st_size / 1e6, 2),
        "last_modified": dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).strftime(
            "%Y-%m-%d %H:%M:%S"
        ),
        "backend": backend,
        "served_artifact": checksum["file"],
        "checksum": checksum,
    }


def served_checksum(
    version: ModelVersion, artifacts: Mapping[str, str], backend: str
) -> dict[str, str]:
    """The file of `artifacts` (a network's {"keras", "litert"}) that `backend` serves, and
    its sha256 as the version's metadata lists it (verified at load)."""
    served = artifacts["litert"] if backend == "litert" else artifacts["keras"]
    return {"file": served, "sha256": version.metadata["files"][served]["sha256"]}


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


def write_keras_artifacts(
    draft: Draft,
    model: Any,
    check_windows: np.ndarray | Sequence[np.ndarray],
    names: tuple[str, str] = (KERAS_FILE, LITERT_FILE),
) -> dict[str, Any]:
    """Save `model` as `names` (`model.keras` and `model.tflite`) in the draft; return their
    metadata.

    The LiteRT artifact is run on `check_windows` (a list for a model of several inputs) and
    compared with Keras: beyond CONVERSION_TOLERANCE training fails rather than publish a model
    that answers differently. A model that cannot be converted is still published, without its
    LiteRT file, and records why (it can be served with the `tensorflow` backend).
    """
    keras_file, litert_file = names
    model.save(draft.file(keras_file))
    meta: dict[str, Any] = {
        "model_type": type(model).__name__,
        "library": "tensorflow.keras",
        "input_shape": list(model.input_shape),
        "output_shape": list(model.output_shape),
        "artifacts": {"keras": keras_file, "litert": None},
    }
    try:
        content = convert_keras(model)
    except Exception as exc:  # a model LiteRT cannot run is still servable by TensorFlow
        log.warning("LiteRT conversion failed, publishing the Keras model only: %s", exc)
        meta["litert_error"] = f"{type(exc).__name__}: {exc}"
        return meta
    inputs = [check_windows] if isinstance(check_windows, np.ndarray) else list(check_windows)
    inputs = [np.asarray(i, dtype=np.float32) for i in inputs]
    expected = np.asarray(model.predict_on_batch(inputs if len(inputs) > 1 else inputs[0]))
    served = LiteRTRunner(content, input_names=[i.name for i in model.inputs])(*inputs)
    difference = float(np.max(np.abs(served - expected)))
    if difference > CONVERSION_TOLERANCE:
        raise RuntimeError(
            f"the LiteRT artifact differs from the Keras model by {difference:.2e} "
            f"(tolerance {CONVERSION_TOLERANCE:.0e}); not publishing it"
        )
    draft.file(litert_file).write_bytes(content)
    meta["artifacts"]["litert"] = litert_file
    meta["litert_check"] = {"windows": len(inputs[0]), "max_abs_diff": difference}
    return meta
