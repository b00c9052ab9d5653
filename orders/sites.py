"""Multi-site homing: every order is appended to at one site only, its home.

An order's home is its customer's home site, and a customer's home is the site that created the user:
user ids are interleaved per site (``multisite_setup`` sets ``INCREMENT BY len(SITES)``, starting at
the site's SITE_ID), so the id alone says where. Homing by customer rather than by the site that took
the CreateOrder keeps *all* of a customer's commands — their creations included — at one site, so a
retry with the same Idempotency-Key sent to the other site can never execute a second time there: it
is answered from the replicated record, or refused with ``wrong_site`` until that record arrives.

An adoption (``adopt_site``, after a lost site was fenced) moves a site's streams to another site as a
whole; adoptions are replicated rows, so every site resolves a home the same way. Single-site (SITES
unset): nothing here runs, and no command is refused.
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from config.errors import WrongSite
from orders import store


def enabled() -> bool:
    return bool(settings.SITES)


def local_site() -> str:
    return str(settings.SITE_NAME)


def birth_site(customer_id: int) -> str:
    """The site whose interleaved id range ``customer_id`` falls in."""
    sites: list[str] = settings.SITES
    return sites[(customer_id - 1) % len(sites)]


def resolve(site: str, adoptions: dict[str, str]) -> str:
    """Follow adoptions (a lost site's adopter may itself have been lost and adopted)."""
    seen = {site}
    while site in adoptions:
        site = adoptions[site]
        if site in seen:  # a cycle is an operator's mistake; stay put rather than loop
            break
        seen.add(site)
    return site


def home_of(customer_id: int) -> str:
    return resolve(birth_site(customer_id), store.site_adoptions())


def require_local_home(customer_id: int | None) -> None:
    """Refuse (``WrongSite``, nothing written) a command on a stream homed at another site."""
    if not enabled() or customer_id is None:
        return
    home = home_of(customer_id)
    if home != local_site():
        details = {"home_site": home, "site": local_site()}
        url = settings.SITE_URLS.get(home)
        if url:
            details["home_url"] = url
        raise WrongSite(f"this order is homed at site {home}; send the command there", details=details)


def homed_here_filter() -> tuple[int, list[int]] | None:
    """(len(SITES), the residues of ``customer_id % len(SITES)`` homed at this site), for filtering a
    read model's orders down to those this site may act on; None single-site (all of them)."""
    if not enabled():
        return None
    all_sites: list[str] = settings.SITES
    adoptions = store.site_adoptions()
    here = [i + 1 for i, site in enumerate(all_sites) if resolve(site, adoptions) == local_site()]
    return len(all_sites), [index % len(all_sites) for index in here]


# Idempotency records are replicated, and ``unique(user, key)`` would stop replication if two sites
# stored the same key (a client reusing one key for two requests, one at each site, within the lag).
# Each site therefore stores the key tagged with its SITE_ID and looks it up under every site's tag:
# a retry at the other site still finds the first answer, and no two sites ever insert the same row.
_KEY_COLUMN_LENGTH = 255


def _tagged(key: str, site_id: int) -> str:
    tagged = f"{key}@{site_id}"
    if len(tagged) <= _KEY_COLUMN_LENGTH:
        return tagged
    return "sha256:" + hashlib.sha256(tagged.encode()).hexdigest()  # a long key: its digest, still per site


def stored_key(key: str) -> str:
    return _tagged(key, settings.SITE_ID) if enabled() else key


def stored_keys(key: str) -> list[str]:
    if not enabled():
        return [key]
    return [_tagged(key, index) for index in range(1, len(settings.SITES) + 1)]
