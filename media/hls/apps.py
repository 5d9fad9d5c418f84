from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings


class HlsConfig(AppConfig):
    """HLS renditions and recordings of live rooms, made by `manage.py hls_worker`."""

    name = "media.hls"
    label = "hls"
    verbose_name = "HLS and recordings"
    default_auto_field = "django.db.models.BigAutoField"

    def serve_processes(self, *, python: str, host: str, port: int) -> list[tuple[str, list[str]]]:
        """`manage.py serve` (make run) starts the HLS worker when HLS is enabled."""
        if not settings.LIVESHOP_HLS.get("ENABLED"):
            return []
        return [("hls", [python, str(settings.BASE_DIR / "manage.py"), "hls_worker"])]
