from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "liveshop.accounts"
    label = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from liveshop.api import schema  # noqa: F401  (registers the OpenAPI auth schemes)
