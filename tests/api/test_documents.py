"""The order documents stored with the read model are what the representation of the row gives, and the
API serves them with the same permission checks."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.roles import SYSTEM
from orders.api.representation import order_representation
from orders.models import Product
from projections.models import OrderSummary
from projections.projectors import OrderSummaryProjector
from projections.rebuild import rebuild
from recovery.erasure import erase_customer
from tests.conftest import project_everything
from tests.projections.workload import order_lifecycle, staff_and_customers


@pytest.mark.django_db(transaction=True)
def test_stored_documents_are_the_representation_of_every_kind_of_order(
    make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    staff, customers = staff_and_customers(make_user, 3)
    skus = [make_product(stock=10_000).sku for _ in range(4)]
    rng = random.Random(21)
    for i in range(40):
        order_lifecycle(rng, customer=customers[i % 3], staff=staff, skus=skus)
    erase_customer(customers[2].pk, actor=SYSTEM)  # an erasure rewrites stored documents too
    project_everything()

    summaries = list(OrderSummary.objects.all())
    assert len(summaries) == 40
    assert any(s.notes for s in summaries) and any(s.shipments for s in summaries)  # the mix is real
    for summary in summaries:
        assert json.loads(summary.document) == order_representation(summary, include_notes=True)
        assert json.loads(summary.document_without_notes) == order_representation(
            summary, include_notes=False
        )


@pytest.mark.django_db(transaction=True)
def test_reads_serve_the_documents_with_notes_only_for_staff_and_only_to_whom_may_see(
    make_user: Callable[..., Any],
    make_product: Callable[..., Product],
    client_for: Callable[[Any], APIClient],
) -> None:
    staff, customers = staff_and_customers(make_user, 2)
    skus = [make_product(stock=10_000).sku for _ in range(2)]
    rng = random.Random(22)
    for _ in range(6):
        order_lifecycle(rng, customer=customers[0], staff=staff, skus=skus)
    project_everything()
    summary = OrderSummary.objects.filter(customer_id=customers[0].pk).exclude(notes=[]).first()
    assert summary is not None

    own = client_for(customers[0]).get(f"/api/orders/{summary.pk}/")
    assert own.status_code == 200
    assert own.json() == order_representation(summary, include_notes=False)
    assert client_for(staff).get(f"/api/orders/{summary.pk}/").json() == order_representation(
        summary, include_notes=True
    )
    assert client_for(customers[1]).get(f"/api/orders/{summary.pk}/").status_code == 404
    listed = client_for(customers[0]).get("/api/orders/?limit=200").json()["results"]
    assert len(listed) == 6 and all("notes" not in order for order in listed)
    assert client_for(customers[1]).get("/api/orders/").json()["results"] == []
    assert all("notes" in order for order in client_for(staff).get("/api/orders/").json()["results"])


@pytest.mark.django_db(transaction=True)
def test_rows_projected_before_documents_were_stored_are_still_served(
    make_user: Callable[..., Any],
    make_product: Callable[..., Product],
    client_for: Callable[[Any], APIClient],
) -> None:
    staff, customers = staff_and_customers(make_user, 1)
    skus = [make_product(stock=10_000).sku]
    rng = random.Random(23)
    for _ in range(3):
        order_lifecycle(rng, customer=customers[0], staff=staff, skus=skus)
    project_everything()
    OrderSummary.objects.update(document=None, document_without_notes=None)  # as after the migration
    expected = {s.pk: order_representation(s, include_notes=True) for s in OrderSummary.objects.all()}

    staff_client = client_for(staff)
    for order_id, representation in expected.items():
        assert staff_client.get(f"/api/orders/{order_id}/").json() == representation
    listed = staff_client.get("/api/orders/").json()["results"]
    assert {order["id"]: order for order in listed} == {str(k): v for k, v in expected.items()}


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_stores_the_documents_of_every_order(
    make_user: Callable[..., Any], make_product: Callable[..., Product]
) -> None:
    staff, customers = staff_and_customers(make_user, 2)
    skus = [make_product(stock=10_000).sku for _ in range(3)]
    rng = random.Random(24)
    for i in range(30):
        order_lifecycle(rng, customer=customers[i % 2], staff=staff, skus=skus)
    project_everything()
    OrderSummary.objects.update(document="stale", document_without_notes="stale")

    rebuild(OrderSummaryProjector.name, batch_size=7)  # many bulk batches, each order across several

    summaries = list(OrderSummary.objects.all())
    assert len(summaries) == 30
    for summary in summaries:
        assert json.loads(summary.document) == order_representation(summary, include_notes=True)
        assert json.loads(summary.document_without_notes) == order_representation(
            summary, include_notes=False
        )


@pytest.mark.django_db(transaction=True)
def test_a_read_with_a_cached_token_is_one_query(
    make_user: Callable[..., Any],
    make_product: Callable[..., Product],
    client_for: Callable[[Any], APIClient],
    django_assert_num_queries: Any,
) -> None:
    staff, customers = staff_and_customers(make_user, 1)
    skus = [make_product(stock=10_000).sku]
    rng = random.Random(25)
    for _ in range(3):
        order_lifecycle(rng, customer=customers[0], staff=staff, skus=skus)
    project_everything()
    order_id = OrderSummary.objects.values_list("pk", flat=True).first()
    for user in (staff, customers[0]):
        client = client_for(user)
        assert client.get("/api/orders/").status_code == 200  # the token is cached from here on
        with django_assert_num_queries(1):  # the visible rows' stored documents, nothing else
            assert client.get(f"/api/orders/{order_id}/").status_code == 200
        with django_assert_num_queries(1):
            assert len(client.get("/api/orders/").json()["results"]) == 3
