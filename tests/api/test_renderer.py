"""The orjson renderer writes what DRF's JSONRenderer writes, and embeds stored JSON text as it is."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import orjson
import pytest
from django.utils.translation import gettext_lazy
from rest_framework.renderers import JSONRenderer

from config.renderers import ORJSONRenderer

SAMPLES = [
    None,
    {},
    [],
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678"), "n": 3, "ok": True, "none": None},
    {"at": dt.datetime(2026, 12, 4, 15, 59, 21, 605123, tzinfo=dt.UTC), "day": dt.date(2026, 12, 4)},
    {"at": dt.datetime(2026, 12, 4, 15, 59, 21, tzinfo=dt.timezone(dt.timedelta(hours=2)))},
    {"time": dt.time(9, 30), "span": dt.timedelta(seconds=90), "money": Decimal("12.50")},
    {"text": "Ünïcode ✓ and \u2028 and \u2029", "lazy": gettext_lazy("not found")},
    {"nested": [{"a": [1, 2, {"b": "c"}]}], 1: "int key"},
    {"big": 2**62, "neg": -5, "float": 1.5},
]


@pytest.mark.parametrize("data", SAMPLES)
def test_the_same_bytes_as_drf(data: object) -> None:
    assert ORJSONRenderer().render(data) == JSONRenderer().render(data)


@pytest.mark.parametrize("data", SAMPLES[3:5])
def test_indented_on_request_and_equal_in_content(data: object) -> None:
    indented = ORJSONRenderer().render(data, "application/json; indent=4")
    assert b"\n" in indented
    assert orjson.loads(indented) == orjson.loads(JSONRenderer().render(data))


def test_stored_json_text_is_embedded_as_it_is() -> None:
    stored = '{"id":"x","total":"12.50","lines":[]}'
    rendered = ORJSONRenderer().render({"results": [orjson.Fragment(stored)], "next": None})
    assert rendered == b'{"results":[' + stored.encode() + b'],"next":null}'
