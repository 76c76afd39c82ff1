"""How the API writes JSON: orjson as Flask's provider (never NaN or Infinity), UTC timestamps."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import orjson
from flask.json.provider import JSONProvider

from pumpapi.limits import read_json


def utc_iso(moment: dt.datetime, timespec: str = "seconds") -> str:
    """An aware datetime as the API writes every timestamp: ISO 8601 in UTC, with a `Z`."""
    return moment.astimezone(dt.UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


class OrjsonProvider(JSONProvider):
    """Dumps with orjson (numpy arrays and scalars included); loads with `limits.read_json`
    (orjson, and the standard library for NaN/Infinity literals so that validation can answer
    422 naming the field)."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        if kwargs.get("indent"):
            option |= orjson.OPT_INDENT_2
        if kwargs.get("sort_keys"):
            option |= orjson.OPT_SORT_KEYS
        return orjson.dumps(obj, option=option, default=_default).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if kwargs:
            return json.loads(s, **kwargs)
        return read_json(s)

    def response(self, *args: Any, **kwargs: Any):
        obj = self._prepare_response_obj(args, kwargs)
        option = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
        return self._app.response_class(
            orjson.dumps(obj, option=option, default=_default), mimetype="application/json"
        )


def _default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if isinstance(obj, set | frozenset):
        return sorted(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
