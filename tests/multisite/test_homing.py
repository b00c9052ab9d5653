"""Multi-site homing on one database: a site decides only the streams homed there; an adoption moves a
lost site's streams; idempotency keys are stored per site and found from either; single-site unchanged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from orders import store
from orders.models import IdempotencyRecord, SiteAdoption, StoredEvent
from tests.addresses import ADDRESS

pytestmark = pytest.mark.django_db


def site(name: str) -> Any:
    return override_settings(
        SITES=["a", "b"],
        SITE_NAME=name,
        SITE_ID=["a", "b"].index(name) + 1,
        SITE_URLS={"a": "https://a.example"},
    )


def home_of(user: Any) -> str:
    return ["a", "b"][(user.pk - 1) % 2]


@pytest.fixture
def customer_and_sites(users: dict[str, Any]) -> Iterator[tuple[Any, str, str]]:
    customer = users["customer"]
    home = home_of(customer)
    yield customer, home, "b" if home == "a" else "a"


def create(client: APIClient, key: str | None = None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        "/api/orders/",
        {"lines": [{"sku": "MUG", "quantity": 1}], "shipping_address": ADDRESS},
        format="json",
        **headers,
    )


def test_a_command_at_a_site_that_is_not_the_home_is_refused_naming_the_home(
    client_for: Callable[[Any], APIClient], customer_and_sites: tuple[Any, str, str], mug: Any
) -> None:
    customer, home, other = customer_and_sites
    client = client_for(customer)
    with site(other):
        refused = create(client)
    assert refused.status_code == 421, refused.json()
    assert refused.json()["error"]["code"] == "wrong_site"
    assert refused.json()["error"]["details"]["home_site"] == home
    assert StoredEvent.objects.count() == 0  # nothing appended

    with site(home):
        created = create(client)
    assert created.status_code == 201
    written = StoredEvent.objects.count()
    assert {e.metadata["site"] for e in StoredEvent.objects.all()} == {home}
    order_id = created.json()["id"]
    with site(other):  # a command on the existing order, at the wrong site: refused, nothing appended
        note = client_for(customer).post(f"/api/orders/{order_id}/place/", {}, format="json")
    assert note.status_code == 421
    assert StoredEvent.objects.count() == written


def test_after_adoption_the_adopter_decides_and_the_lost_site_no_longer_does(
    client_for: Callable[[Any], APIClient], customer_and_sites: tuple[Any, str, str], mug: Any
) -> None:
    customer, home, other = customer_and_sites
    client = client_for(customer)
    SiteAdoption.objects.create(site=home, adopted_by=other)
    with site(home):
        assert create(client).status_code == 421
    with site(other):
        assert create(client).status_code == 201


def test_a_key_stored_at_one_site_replays_at_the_other_and_is_stored_per_site(
    client_for: Callable[[Any], APIClient], customer_and_sites: tuple[Any, str, str], mug: Any
) -> None:
    customer, home, other = customer_and_sites
    client = client_for(customer)
    with site(home):
        first = create(client, key="k-1")
    record = IdempotencyRecord.objects.get()
    assert record.key == f"k-1@{['a', 'b'].index(home) + 1}"  # tagged: two sites never store the same row
    with site(other):  # the record replicated: the retry at the other site gets the first answer
        again = create(client, key="k-1")
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert StoredEvent.objects.filter(event_type="OrderCreated").count() == 1


def test_single_site_stores_keys_and_metadata_as_before(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], mug: Any
) -> None:
    assert create(client_for(users["customer"]), key="k-2").status_code == 201
    assert IdempotencyRecord.objects.get().key == "k-2"
    assert not any("site" in e.metadata for e in StoredEvent.objects.all())


def test_single_site_commands_never_read_the_adoptions(
    client_for: Callable[[Any], APIClient], users: dict[str, Any], mug: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The write path's SQL runs on a psycopg cursor that Django's query capture does not see: count the
    # reads of the adoptions table at its one reader instead (it still runs).
    reads = []
    real = store.site_adoptions

    def counted() -> dict[str, str]:
        reads.append(1)
        return real()

    monkeypatch.setattr(store, "site_adoptions", counted)
    assert create(client_for(users["customer"]), key="k-3").status_code == 201
    assert not reads  # single-site: no query per command
