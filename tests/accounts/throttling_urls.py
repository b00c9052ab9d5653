"""A tiny API for the throttling tests, independent of the real endpoints."""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import TokenThrottle


class PingView(APIView):
    """Open to all, with the default throttles."""

    permission_classes = [AllowAny]

    def get(self, request: Request) -> Response:
        return Response({"ok": True})

    def post(self, request: Request) -> Response:
        return Response({"ok": True})


class PrivateView(PingView):
    permission_classes = [IsAuthenticated]


class TokenLikeView(PingView):
    throttle_classes = [TokenThrottle]


urlpatterns = [
    path("api/ping/", PingView.as_view()),
    path("api/private/", PrivateView.as_view()),
    path("api/token/", TokenLikeView.as_view()),
]
