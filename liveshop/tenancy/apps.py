from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _

from .permissions import Perm


class TenancyConfig(AppConfig):
    name = "liveshop.tenancy"
    label = "tenancy"
    verbose_name = "Tenancy"

    dashboard_nav = [
        (0, _("Overview"), "dashboard:overview", Perm.VIEW_DASHBOARD),
        (80, _("Staff"), "dashboard:staff", Perm.VIEW_DASHBOARD),
        (85, _("API keys"), "dashboard:api_keys", Perm.MANAGE_KEYS),
        (90, _("Audit log"), "dashboard:audit", Perm.VIEW_AUDIT),
        (95, _("Settings"), "dashboard:settings", Perm.MANAGE_SETTINGS),
    ]

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import rls

        # Every TenantModel table gets FORCE row-level security and grants for the app role,
        # including tables that later apps add: no per-table migration to forget.
        post_migrate.connect(rls.rls_install, dispatch_uid="tenancy.rls_install")
