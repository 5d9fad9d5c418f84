from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running LiveShop: the `serve` process group, the in-process scheduler, DB bootstrap."""

    name = "liveshop.ops"
    label = "ops"
    verbose_name = "Operations"
