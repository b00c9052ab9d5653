"""The order's API representation stored with its read-model row, as JSON text.

Building the representation cost more than the rest of a read (83 µs per order; a page of 20 is 1.7 ms):
the projector writes it once per change instead, and a read serves the stored text after its permission
check (``orjson.Fragment`` embeds it in the response as it is). Two texts, because notes are shown only
to those who may see them. tests/api/test_documents.py checks the stored text is what the representation
of the row gives.
"""

from __future__ import annotations

from typing import Any

import orjson

from config.renderers import ORJSONRenderer
from orders.api.representation import order_representation

DOCUMENT_COLUMNS = ("document", "document_without_notes")


def documents(row: dict[str, Any]) -> dict[str, str]:
    """Both stored texts for a summary row (column name -> value)."""
    full = order_representation(row, include_notes=True)
    public = dict(full)
    del public["notes"]
    return {"document": _text(full), "document_without_notes": _text(public)}


def _text(data: dict[str, Any]) -> str:
    # The API's renderer: the same bytes a response would carry, and no type a projection could choke on.
    return _RENDERER.render(data).decode()


_RENDERER = ORJSONRenderer()


def served(row: Any, *, include_notes: bool) -> Any:
    """What a read puts in its response for ``row`` (a model instance or a dict with the columns): the
    stored text as a fragment, or, for a row without one, the representation built now."""
    get = row.get if isinstance(row, dict) else lambda name: getattr(row, name, None)
    text = get("document" if include_notes else "document_without_notes")
    if text is not None:
        return orjson.Fragment(text)
    return order_representation(row, include_notes=include_notes)
