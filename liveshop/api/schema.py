"""OpenAPI descriptions of our authentication schemes (imported in AccountsConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "liveshop.api.authentication.BearerAuthentication"
    name = "bearer"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A user token from POST /api/v1/auth/token (lst_…) or a merchant API key (lsk_…).",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "liveshop.api.authentication.SessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "Pages call the API with their session cookie and X-CSRFToken.",
        }
