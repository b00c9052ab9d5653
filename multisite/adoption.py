"""Adoption: after the peer was lost *and fenced*, this site becomes the home of the peer's streams.

What the operator runs once, at the surviving site (``manage.py adopt_site LOST``):

1. Refuse if the lost site still streams from us — it is not lost, or not fenced: two homes would fork
   its streams.
2. Detach and drop our subscription to it (its slot there is unreachable) and drop its slot here, so
   this site stops retaining WAL for a site that will re-join as a fresh copy anyway.
3. Restart our interleaved sequences above every key in the tables (the lost site's included): an
   adopted stream's next events then sort after its earlier ones in any later copy of the log.
4. Record the adoption (a replicated row: the re-joining site learns it with its copy). From that commit
   on, commands on the lost site's streams are decided here, on the events that had arrived.

``release``: handing the streams back once the site has re-joined and replicates again. The row is
deleted *here* first, so this site stops deciding them before the other starts; the other site sees
the deletion only after every event this site wrote to those streams (one publisher's changes arrive in
commit order), so the streams never have two homes at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from multisite import replication
from multisite.status import replication_status
from orders.models import SiteAdoption


class AdoptionRefused(RuntimeError):
    pass


@dataclass(frozen=True)
class Adopted:
    site: str
    adopted_by: str
    last_event_at: datetime | None  # the lost site's newest event that arrived here: "as of"
    last_position: int | None
    subscription_dropped: bool
    slot_dropped: bool
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "adopted_by": self.adopted_by,
            "as_of": self.last_event_at.isoformat() if self.last_event_at else None,
            "last_position": self.last_position,
            "subscription_dropped": self.subscription_dropped,
            "slot_dropped": self.slot_dropped,
            "seconds": round(self.seconds, 3),
        }


def adopt(lost: str, *, force: bool = False) -> Adopted:
    here = settings.SITE_NAME
    if lost == here or lost not in settings.SITES:
        raise AdoptionRefused(f"{lost!r} is not another site of SITES")
    if replication_status().outbound.connected and not force:
        raise AdoptionRefused(
            f"site {lost} still streams this site's changes: it is not lost, or not fenced. Fence it "
            "(stop its database and web nodes), then adopt"
        )
    started = time.monotonic()
    dropped = replication.drop_subscription(keep_slot=True)
    slot = replication.drop_peer_slot()
    replication.interleave_sequences()
    modulus, residue = len(settings.SITES), (settings.SITES.index(lost) + 1) % len(settings.SITES)
    with transaction.atomic():
        SiteAdoption.objects.update_or_create(site=lost, defaults={"adopted_by": here})
        SiteAdoption.objects.filter(adopted_by=lost).update(adopted_by=here)
        SiteAdoption.objects.filter(site=here).delete()  # our own streams are ours again
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT max(recorded_at), max(position) FROM event_log WHERE position %% %s = %s",
                [modulus, residue],
            )
            at, position = cursor.fetchone()
    return Adopted(lost, here, at, position, dropped, slot, time.monotonic() - started)


def release(site: str) -> bool:
    """Hand ``site``'s streams back (it re-joined and replicates again); see the module's docstring."""
    if not replication_status().outbound.connected:
        raise AdoptionRefused(f"site {site} does not receive our changes: it would never learn of it")
    deleted, _ = SiteAdoption.objects.filter(site=site, adopted_by=settings.SITE_NAME).delete()
    return bool(deleted)
