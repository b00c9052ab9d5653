"""Token authentication (``Token <key>``) that tells a client sending ``Bearer`` what to do, with the
token's user and roles read through ``accounts.token_cache`` (one query on a miss, none on a hit)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import token_cache


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

    def authenticate_credentials(self, key: str) -> tuple[Any, Any]:
        # DRF's checks and messages, on the cached user; ``request.auth`` is the key (nothing reads it).
        user = token_cache.user_for(key)
        if user is None:
            raise exceptions.AuthenticationFailed(gettext("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(gettext("User inactive or deleted."))
        return (user, key)
