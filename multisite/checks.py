"""System checks: a multi-site configuration that would fork streams or collide ids is refused."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def site_identity(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    if settings.SITE_NAME not in settings.SITES:
        errors.append(
            Error(
                "SITE_NAME must be one of SITES",
                hint="every site lists the same SITES in the same order and names itself in SITE_NAME",
                id="multisite.E001",
            )
        )
    if len(set(settings.SITES)) != len(settings.SITES) or len(settings.SITES) != 2:
        errors.append(
            Error("SITES must name exactly two distinct sites", hint="e.g. SITES=eu,us", id="multisite.E002")
        )
    return errors
