"""One way to page every list of the API: ``{"next", "previous", "results"}`` with an opaque ``cursor``,
``limit`` (1-200, default 50) and, where a view allows it, one ``ordering`` field.

DRF trusts what a well-formed cursor says; here its position is checked against the ordering field's type
(and range) first, and a bad ``limit``, ``cursor`` or ``ordering`` is a 400 that names it, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.core.exceptions import FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Field, Model, QuerySet
from django.utils.translation import gettext
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.filters import OrderingFilter
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.views import APIView

Item = TypeVar("Item")


class StrictCursorPagination(CursorPagination):
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200
    model: type[Model] | None = None

    def paginate_queryset(self, queryset: Any, request: Request, view: APIView | None = None) -> Any:
        self.model = queryset.model  # for checking the cursor's position against the ordering field
        return super().paginate_queryset(queryset, request, view)

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {"limit": [gettext("a whole number from 1 to %(max)s") % {"max": self.max_page_size}]}
            )
        return int(raw)

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
        else:
            if cursor is None or cursor.position is None or self.position_is_valid(str(cursor.position)):
                return cursor
        raise ValidationError({"cursor": [gettext("invalid cursor")]})

    def position_is_valid(self, position: str) -> bool:
        if self.model is None:
            return False
        try:
            field = self.model._meta.get_field(self.ordering[0].lstrip("-"))
            if not isinstance(field, Field):
                return False
            field.clean(position, None)  # type, then range (an integer column's bounds)
        except (FieldDoesNotExist, DjangoValidationError):
            return False
        return True


class StrictOrderingFilter(OrderingFilter):
    """``?ordering=field`` or ``-field``, one of the view's ``ordering_fields``; anything else is refused
    (DRF's filter ignores it silently). The view's ``ordering_tiebreaker`` follows in the same direction,
    so equal values keep one order from page to page."""

    def get_ordering(self, request: Request, queryset: QuerySet[Any], view: APIView) -> Any:
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            return self.get_default_ordering(view)
        allowed: list[str] = list(getattr(view, "ordering_fields", []))
        chosen = raw.strip()
        if chosen.lstrip("-") not in allowed:
            choices = ", ".join(f"{name}, -{name}" for name in allowed)
            raise ValidationError(
                {
                    "ordering": [
                        gettext("unknown ordering %(chosen)s; one of: %(choices)s")
                        % {"chosen": repr(chosen), "choices": choices}
                    ]
                }
            )
        tiebreaker: str = getattr(view, "ordering_tiebreaker", "pk")
        direction = "-" if chosen.startswith("-") else ""
        return (chosen, f"{direction}{tiebreaker}")


class ListCursorPagination(StrictCursorPagination):
    """Pages a list already in memory and sorted ascending by an integer ``key`` (an order's events, which
    are loaded whole anyway to decide who may see them), in the same shape as the database lists."""

    ordering = ("key",)

    def paginate_list(
        self, items: Sequence[Item], request: Request, *, key: Callable[[Item], int]
    ) -> list[Item]:
        self.request = request
        self.page_size = self.get_page_size(request)
        self.base_url = request.build_absolute_uri()
        cursor = self.decode_cursor(request)
        position = None if cursor is None or cursor.position is None else int(cursor.position)
        if cursor is not None and cursor.reverse and position is not None:
            before = [item for item in items if key(item) < position]
            page = before[-self.page_size :]
            self.has_next, self.has_previous = True, len(before) > self.page_size
        else:
            after = [item for item in items if position is None or key(item) > position]
            page = after[: self.page_size]
            self.has_next, self.has_previous = len(after) > self.page_size, position is not None
        self.edges = (key(page[0]), key(page[-1])) if page else None
        return page

    def position_is_valid(self, position: str) -> bool:
        return position.isascii() and position.isdigit() and len(position) < 12

    def get_next_link(self) -> str | None:
        if not self.has_next or self.edges is None:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=False, position=self.edges[1]))

    def get_previous_link(self) -> str | None:
        if not self.has_previous or self.edges is None:
            return None
        return self.encode_cursor(Cursor(offset=0, reverse=True, position=self.edges[0]))
