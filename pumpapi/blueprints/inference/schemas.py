"""Schemas of the Open Inference Protocol routes: they document the protocol's JSON bodies."""

from __future__ import annotations

from marshmallow import fields, validate

from pumpapi.blueprints.inference.tensors import DATATYPES
from pumpapi.extensions.smorest import ResponseSchema, Schema


class ServerMetadataSchema(ResponseSchema):
    name = fields.String(metadata={"example": "pumpapi"})
    version = fields.String(metadata={"example": "0.1.0"})
    extensions = fields.List(fields.String(), metadata={"example": ["binary_tensor_data"]})


class LiveSchema(ResponseSchema):
    live = fields.Boolean()


class ServerReadySchema(ResponseSchema):
    ready = fields.Boolean()
    models = fields.Dict(
        keys=fields.String(),
        values=fields.Boolean(),
        metadata={"description": "Each family served here, and whether it is ready."},
    )


class ModelReadySchema(ResponseSchema):
    name = fields.String(metadata={"example": "xgboost"})
    ready = fields.Boolean()
    error = fields.String(metadata={"description": "Why the model is not ready."})


class TensorMetadataSchema(Schema):
    name = fields.String(metadata={"example": "features"})
    datatype = fields.String(validate=validate.OneOf(DATATYPES), metadata={"example": "FP32"})
    shape = fields.List(
        fields.Integer(),
        metadata={"description": "-1 for a dimension of any size.", "example": [-1, 4]},
    )


class ModelMetadataSchema(ResponseSchema):
    name = fields.String(metadata={"example": "xgboost"})
    versions = fields.List(fields.String(), metadata={"example": ["3"]})
    platform = fields.String(metadata={"example": "xgboost"})
    inputs = fields.List(fields.Nested(TensorMetadataSchema))
    outputs = fields.List(fields.Nested(TensorMetadataSchema))
    parameters = fields.Dict(
        metadata={"description": "What the model's inputs mean (feature order, channels)."}
    )


class TensorParametersSchema(Schema):
    binary_data_size = fields.Integer(
        metadata={
            "description": "Binary tensor data extension: the tensor's bytes follow the "
            "JSON header."
        }
    )
    binary_data = fields.Boolean(
        metadata={"description": "On a requested output: send it as binary data."}
    )


class RequestTensorSchema(TensorMetadataSchema):
    data = fields.List(
        fields.Raw(),
        metadata={
            "description": "The values, flat or nested, row-major.",
            "example": [1800, 4.5, 24.1, 27.8],
        },
    )
    parameters = fields.Nested(TensorParametersSchema)


class RequestedOutputSchema(Schema):
    name = fields.String(required=True, metadata={"example": "probability"})
    parameters = fields.Nested(TensorParametersSchema)


class InferRequestSchema(Schema):
    id = fields.String()
    parameters = fields.Dict(
        metadata={
            "description": "`binary_data_output`: send every output as binary data; "
            "`horizon` (lstm): also forecast the next 1 to 60 values."
        }
    )
    inputs = fields.List(fields.Nested(RequestTensorSchema), required=True)
    outputs = fields.List(fields.Nested(RequestedOutputSchema))


class ResponseTensorSchema(TensorMetadataSchema):
    data = fields.List(fields.Raw())
    parameters = fields.Nested(TensorParametersSchema)


class InferResponseSchema(ResponseSchema):
    model_name = fields.String(metadata={"example": "xgboost"})
    model_version = fields.String(metadata={"example": "3"})
    id = fields.String()
    parameters = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "`warnings`, when an input row lies outside the model's training "
            "data: a JSON text of `[{row, code: OUT_OF_TRAINING_RANGE, field, value, "
            "trained_range}]`, the warnings the family's own route gives, with the row of the "
            "input tensor (reading, window or series) each is about. Absent otherwise.",
            "example": {
                "warnings": '[{"row":0,"code":"OUT_OF_TRAINING_RANGE",'
                '"field":"pressao_oleo_bar","value":18.0,"trained_range":[0.4,7.1]}]'
            },
        },
    )
    outputs = fields.List(fields.Nested(ResponseTensorSchema))
