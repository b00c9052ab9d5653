"""The event store's payload codec: handed to it from above, never personal data in clear by default."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import uuid4

import pytest

from orders import codec, store
from orders import events as e
from orders.models import StoredEvent
from recovery.personal_data import PersonalDataCodec


@pytest.fixture
def no_codec_installed() -> Iterator[None]:
    installed = codec.current()
    codec.install(codec.NoPersonalDataCodec())
    try:
        yield
    finally:
        codec.install(installed)


def test_the_recovery_app_installs_its_encryption_at_start_up() -> None:
    assert isinstance(codec.current(), PersonalDataCodec)


@pytest.mark.django_db
@pytest.mark.usefixtures("no_codec_installed")
def test_without_a_codec_personal_fields_are_refused_and_nothing_is_written() -> None:
    stream = uuid4()
    created = e.OrderCreated(
        number="ORD-1", customer_id=1, customer_name="Ada", customer_email="ada@example.com", currency="USD"
    )

    with pytest.raises(RuntimeError, match="OrderCreated"):
        store.append(stream, 0, [created])

    assert not StoredEvent.objects.filter(stream_id=stream).exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("no_codec_installed")
def test_without_a_codec_events_without_personal_fields_are_stored_as_they_are() -> None:
    stream = uuid4()
    store.append(stream, 0, [e.OrderNoteAdded(note_id=1, text="hello")])

    assert StoredEvent.objects.get(stream_id=stream).payload == {"note_id": 1, "text": "hello"}
    assert store.load(stream)[0].event == e.OrderNoteAdded(note_id=1, text="hello")
