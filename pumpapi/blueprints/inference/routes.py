"""The Open Inference Protocol (V2, REST): what KServe, Triton and MLServer clients call.

`/v2/models/{name}` serves each model family under its family name (`xgboost`, `gru`, `lstm`);
`/versions/{v}` names the version that must answer. Errors are the API's one envelope, whose
`error` member is the protocol's error message.
"""

from __future__ import annotations

from flask import Response, current_app, request
from flask.views import MethodView

from pumpapi import __version__, models
from pumpapi.blueprints.inference.schemas import (
    InferRequestSchema,
    InferResponseSchema,
    LiveSchema,
    ModelMetadataSchema,
    ModelReadySchema,
    ServerMetadataSchema,
    ServerReadySchema,
)
from pumpapi.blueprints.inference.signatures import SIGNATURES, Signature
from pumpapi.blueprints.inference.tensors import HEADER_LENGTH, decode_request, encode_response
from pumpapi.errors import ModelNotFound, ModelNotReady
from pumpapi.extensions import views
from pumpapi.extensions.smorest import Blueprint
from pumpapi.models.base import Model
from pumpapi.models.timing import timed_inference

#: Liveness and readiness: open without an API key, like /health.
health_blp = Blueprint(
    "inference-health",
    __name__,
    url_prefix="/v2/health",
    description="Open Inference Protocol: server liveness and readiness.",
)
blp = Blueprint(
    "inference",
    __name__,
    url_prefix="/v2",
    description="Open Inference Protocol (V2 REST, as KServe, Triton and MLServer speak it) for "
    "every model family, with the binary tensor data extension: `tritonclient.http` and plain "
    "JSON clients both work. Same models, checks and answers as the family routes.",
)

EXTENSIONS = ("binary_tensor_data",)


def _served(name: str, version: str | None = None) -> tuple[Signature, Model]:
    """The family's signature and the loaded model that answers for `version` (404 when the
    family or that version is not served here, 503 while the family is not loaded)."""
    signature = SIGNATURES.get(name)
    if signature is None:
        raise ModelNotFound(f"No model '{name}' here; models: {', '.join(SIGNATURES)}.")
    return signature, models.registry().get(name, version)


@health_blp.route("/live")
class Live(MethodView):
    @health_blp.response(200, LiveSchema)
    def get(self):
        """Server liveness: the process answers"""
        return {"live": True}


@health_blp.route("/ready")
class Ready(MethodView):
    @health_blp.response(200, ServerReadySchema)
    @health_blp.alt_response(503, schema=ServerReadySchema, description="A model is not ready.")
    def get(self):
        """Server readiness: every model family served here is loaded

        Needs no database: the protocol's inference takes its inputs in the request.
        """
        status = {family: s.ready for family, s in models.registry().status().items()}
        ready = all(status.values())
        return {"ready": ready, "models": status}, (200 if ready else 503)


@blp.route("")
class ServerMetadata(MethodView):
    @blp.response(200, ServerMetadataSchema)
    def get(self):
        """Server metadata: name, version and protocol extensions"""
        return {"name": "pumpapi", "version": __version__, "extensions": list(EXTENSIONS)}


def _metadata(name: str, version: str | None):
    signature, model = _served(name, version)
    served = [v["version"] for v in models.registry().versions(name)]
    return signature.metadata(model) | {
        "versions": served if version is None else [model.version.version],
        "parameters": _input_meaning(model),
    }


def _input_meaning(model: Model) -> dict:
    """What the columns of a family's input are, so a client need not guess the order."""
    order = getattr(model, "feature_order", None)
    if order is not None:
        return {"feature_order": list(order)}
    window_meta = getattr(model, "window_meta", None)
    if window_meta is not None:
        return {"feature_order": window_meta()["feature_order"]}
    return {"min_values": model.input_info()["min_values"]}


@blp.route("/models/<name>")
class ModelMetadata(MethodView):
    @blp.response(200, ModelMetadataSchema)
    @blp.alt_response(404, description="No such model here.")
    @blp.alt_response(503, description="The model is not loaded.")
    def get(self, name):
        """Model metadata: versions, platform, inputs and outputs (names, datatypes, shapes)"""
        return _metadata(name, None)


@blp.route("/models/<name>/versions/<version>")
class VersionMetadata(MethodView):
    @blp.response(200, ModelMetadataSchema)
    @blp.alt_response(404, description="No such model or version here.")
    @blp.alt_response(503, description="The model is not loaded.")
    def get(self, name, version):
        """Metadata of one version of a model"""
        return _metadata(name, version)


def _ready(name: str, version: str | None):
    try:
        _served(name, version)
    except ModelNotReady as exc:
        return {"name": name, "ready": False, "error": exc.message}, 503
    return {"name": name, "ready": True}, 200


@blp.route("/models/<name>/ready")
class ModelReady(MethodView):
    @blp.response(200, ModelReadySchema)
    @blp.alt_response(503, schema=ModelReadySchema, description="The model is not loaded.")
    @blp.alt_response(404, description="No such model here.")
    def get(self, name):
        """Model readiness: 200 when loaded, 503 (with why) when not"""
        return _ready(name, None)


@blp.route("/models/<name>/versions/<version>/ready")
class VersionReady(MethodView):
    @blp.response(200, ModelReadySchema)
    @blp.alt_response(503, schema=ModelReadySchema, description="The model is not loaded.")
    @blp.alt_response(404, description="No such model or version here.")
    def get(self, name, version):
        """Readiness of one version of a model"""
        return _ready(name, version)


def _infer(name: str, version: str | None) -> Response:
    signature, model = _served(name, version)
    config = current_app.config
    # A tensor may not hold more values than the largest batch of the family routes holds:
    # MAX_BATCH_SIZE readings of eight channels.
    inference = decode_request(
        request.get_data(cache=True),
        request.headers.get(HEADER_LENGTH),
        max_values=int(config["MAX_BATCH_SIZE"]) * 8,
    )
    with timed_inference(model):
        inferred = signature.infer(model, inference.inputs, inference.parameters, config)
    body, headers = encode_response(
        name, model.version.version, inference, inferred.outputs, inferred.warnings
    )
    return Response(body, status=200, headers=headers)


_INFER_DOC = {
    "requestBody": {
        "description": "An inference request; with the binary tensor data extension, a JSON "
        f"header of `{HEADER_LENGTH}` bytes followed by the tensors' bytes.",
        "content": {
            "application/json": {
                "schema": InferRequestSchema,
                "examples": {
                    "xgboost": {
                        "value": {
                            "inputs": [
                                {
                                    "name": "features",
                                    "datatype": "FP32",
                                    "shape": [1, 4],
                                    "data": [1800, 4.5, 24.1, 27.8],
                                }
                            ]
                        }
                    }
                },
            },
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


# The body is JSON or a JSON header followed by binary tensors, sent by tritonclient with no
# Content-Type: decode_request reads it.
@views.declare(raw_body=True)
class _InferView(MethodView):
    pass


def _infer_operation(view):
    for decorate in (
        blp.alt_response(503, description="The model is not loaded."),
        blp.alt_response(422, description="A value is not finite or out of its range."),
        blp.alt_response(404, description="No such model or version here."),
        blp.alt_response(400, description="The request does not follow the protocol."),
        blp.response(200, InferResponseSchema),
        blp.doc(**_INFER_DOC),
    ):
        view = decorate(view)
    return view


@blp.route("/models/<name>/infer")
class Infer(_InferView):
    @_infer_operation
    def post(self, name):
        """Inference with the served version of a model

        `xgboost`: input `features` (FP32, [n, 4]: the four features in the metadata's
        `feature_order`) → `probability`, `prediction` (the label), `at_risk`. `gru`: input
        `window` (FP32, [n, 1 to 60, 8]: readings oldest first, channels in `feature_order`)
        → `indices` ([n, 2]: lubrificacao, hidraulico) and `status` (their bands). `lstm`: input
        `series` ([n, ≥ 60 values]) → `prediction` and, with parameter `horizon`, `forecast`.
        Values are checked as on the family routes (finite, within physical ranges, sizes).
        """
        return _infer(name, None)


@blp.route("/models/<name>/versions/<version>/infer")
class VersionInfer(_InferView):
    @_infer_operation
    def post(self, name, version):
        """Inference with one version of a model (404 if that version is not served here)"""
        return _infer(name, version)
