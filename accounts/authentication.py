"""Token authentication (``Token <key>``) that tells a client sending ``Bearer`` what to do."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework import authentication, exceptions
from rest_framework.request import Request


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        scheme = authentication.get_authorization_header(request).split(b" ", 1)[0]
        # The most common mistake with this API: DRF would ignore the header and answer "credentials were
        # not provided", which sends the client looking for the wrong problem.
        if scheme.lower() == b"bearer":
            raise exceptions.AuthenticationFailed(
                gettext(
                    'use the Token scheme: "Authorization: Token <token>" (not Bearer), '
                    "with the token from POST /api/auth/token/"
                )
            )
        return super().authenticate(request)
