"""Token API of the public contract: register, token, revoke, me."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from liveshop.api.authentication import ApiKeyPrincipal
from liveshop.i18n import supported

from . import services
from .models import AuthToken, User

TokenOut = inline_serializer("TokenOut", {"token": serializers.CharField()})


def _request_language() -> str:
    """A new account's locale when none is given: the language this request is served in."""
    return supported(translation.get_language()) or settings.LANGUAGE_CODE


class RegisterIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, min_length=8, trim_whitespace=False)
    display_name = serializers.CharField(max_length=80)
    locale = serializers.ChoiceField(
        choices=settings.LANGUAGES, required=False, default=_request_language
    )


class TokenIn(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class UserOut(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "locale"]


def _client(request: Request) -> str:
    return str(request.META.get("HTTP_USER_AGENT", ""))[:200]


class RegisterView(APIView):
    permission_classes = [permissions.AllowAny]
    authentication_classes: list[Any] = []
    throttle_scope = "register"

    @extend_schema(request=RegisterIn, responses={201: TokenOut}, auth=[])
    def post(self, request: Request) -> Response:
        data = RegisterIn(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            user = services.user_register(**data.validated_data)
            _token, raw = services.token_issue(user=user, client=_client(request))
        return Response({"token": raw}, status=status.HTTP_201_CREATED)


class TokenView(APIView):
    permission_classes = [permissions.AllowAny]
    throttle_scope = "auth"

    def get_authenticate_header(self, request: Request) -> str:
        return "Bearer"  # a wrong password is 401 with a challenge, not 403

    def get_authenticators(self) -> list[Any]:
        # POST logs in with a password; DELETE revokes the bearer token it is called with.
        request = getattr(self, "request", None)  # unset when the schema generator asks
        if request is not None and request.method == "POST":
            return []
        return super().get_authenticators()

    @extend_schema(request=TokenIn, responses={200: TokenOut}, auth=[])
    def post(self, request: Request) -> Response:
        data = TokenIn(data=request.data)
        data.is_valid(raise_exception=True)
        raw = services.token_for_credentials(**data.validated_data, client=_client(request))
        if raw is None:
            raise exceptions.AuthenticationFailed(gettext("Email or password is wrong."))
        return Response({"token": raw})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request: Request) -> Response:
        if not isinstance(request.auth, AuthToken):
            raise exceptions.NotAuthenticated(
                gettext("Send the token to revoke as 'Authorization: Bearer <token>'.")
            )
        services.token_revoke(token=request.auth)
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    @extend_schema(responses={200: UserOut})
    def get(self, request: Request) -> Response:
        if isinstance(request.user, ApiKeyPrincipal):
            raise exceptions.PermissionDenied(gettext("API keys act for a merchant, not a person."))
        return Response(UserOut(request.user).data)
