"""POST /api/auth/token/: a token for a username and password."""

from __future__ import annotations

from django.contrib.auth import authenticate
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.throttling import TokenThrottle
from config.errors import ApplicationError
from config.openapi import errors
from config.serializers import StrictSerializer


class InvalidCredentials(ApplicationError):
    code = "authentication_failed"
    status = 401


class CredentialsSerializer(StrictSerializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False, style={"input_type": "password"})


class ObtainTokenView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [TokenThrottle]

    @extend_schema(
        summary="Get an API token for a username and password",
        description="Send it on every request as the header `Authorization: Token <token>`.",
        extensions=errors("authentication_failed"),
        request=CredentialsSerializer,
        responses={200: inline_serializer("TokenResponse", {"token": serializers.CharField()})},
    )
    def post(self, request: Request) -> Response:
        credentials = CredentialsSerializer(data=request.data)
        credentials.is_valid(raise_exception=True)
        user = authenticate(request._request, **credentials.validated_data)
        if user is None:
            raise InvalidCredentials(gettext("unknown username or wrong password"))
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})
