"""What a backup holds, table by table, and how each is read out (COPY ... TO) and back in (COPY ... FROM).

The event log and the reference data: users (with password hashes), roles and memberships, API tokens,
products, and the per-customer data keys. Not the read tables, which a restore rebuilds from the log, and
not the idempotency records: they are a 24-hour cache of responses that quote personal data (shipping
addresses) in clear, which an old backup would otherwise bring back after an erasure.

Plain tables keep their ids (foreign keys between them stay valid); permission links are kept by natural
key (app label, model, codename), because permission ids differ between databases.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from psycopg import sql
from rest_framework.authtoken.models import Token

from orders.models import Product, StoredEvent
from recovery.models import DataKey

EVENT_LOG = StoredEvent._meta.db_table
# Commit-safe order, as the projection runner reads; transaction_id and position come first so that a
# restore can stop at a given point by reading only the start of each row.
EVENT_COLUMNS = [
    "transaction_id",
    "position",
    "stream_id",
    "version",
    "event_type",
    "schema_version",
    "payload",
    "metadata",
    "recorded_at",
]


@dataclass(frozen=True)
class NaturalKeyLink:
    """A many-to-many link to auth_permission, stored as (owner id, app_label, model, codename)."""

    name: str
    owner_column: str


def plain_tables() -> list[str]:
    """Reference tables copied as they are, in an order that satisfies their foreign keys."""
    user = get_user_model()
    return [
        Group._meta.db_table,
        user._meta.db_table,
        user.groups.through._meta.db_table,
        Token._meta.db_table,
        Product._meta.db_table,
        DataKey._meta.db_table,
    ]


def permission_links() -> list[NaturalKeyLink]:
    user = get_user_model()
    return [
        NaturalKeyLink(Group.permissions.through._meta.db_table, "group_id"),
        NaturalKeyLink(user.user_permissions.through._meta.db_table, "user_id"),
    ]


def columns_of(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = %s ORDER BY ordinal_position",
            [table],
        )
        return [name for (name,) in cursor.fetchall()]


def primary_key_of(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid = %s::regclass AND i.indisprimary ORDER BY a.attnum",
            [connection.ops.quote_name(table)],
        )
        return [name for (name,) in cursor.fetchall()]


def column_list(columns: list[str]) -> sql.Composed:
    return sql.SQL(", ").join(sql.Identifier(column) for column in columns)


def table_select(table: str, columns: list[str], order_by: list[str]) -> sql.Composed:
    return sql.SQL("SELECT {} FROM {} ORDER BY {}").format(
        column_list(columns), sql.Identifier(table), column_list(order_by)
    )


def permission_link_select(link: NaturalKeyLink) -> sql.Composed:
    return sql.SQL(
        "SELECT l.{}, ct.app_label, ct.model, p.codename FROM {} l"
        " JOIN auth_permission p ON p.id = l.permission_id"
        " JOIN django_content_type ct ON ct.id = p.content_type_id ORDER BY 1, 2, 3, 4"
    ).format(sql.Identifier(link.owner_column), sql.Identifier(link.name))
