from django.contrib import admin
from django.urls import include, path
from django.views.decorators.cache import cache_control
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from assistant import urls as assistant_urls
from commerce import urls as commerce_urls
from consults import urls as consults_urls
from liveshop import i18n, views
from liveshop.accounts import api as accounts_api
from liveshop.tenancy import urls as tenancy_urls
from liveshop.tenancy import views as tenancy_views
from media import urls as media_urls
from rooms import urls as rooms_urls
from rooms.docs import realtime_protocol

api_v1 = [
    path("auth/register", accounts_api.RegisterView.as_view(), name="api-register"),
    path("auth/token", accounts_api.TokenView.as_view(), name="api-token"),
    path("me", accounts_api.MeView.as_view(), name="api-me"),
    *tenancy_urls.api_urlpatterns,
    *commerce_urls.api_urlpatterns,
    *rooms_urls.api_urlpatterns,
    *media_urls.api_urlpatterns,
    *assistant_urls.api_urlpatterns,
    *consults_urls.api_urlpatterns,
]

dashboard_urlpatterns = [
    *tenancy_urls.dashboard_urlpatterns,
    *commerce_urls.dashboard_urlpatterns,
    *rooms_urls.dashboard_urlpatterns,
    *assistant_urls.dashboard_urlpatterns,
    *consults_urls.dashboard_urlpatterns,
]

urlpatterns = [
    path("", views.landing, name="landing"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("liveshop.accounts.views")),
    path("merchants/new/", tenancy_views.merchant_new, name="merchant_new"),
    path("invites/<slug:m>/<str:token>/", tenancy_views.invite_accept, name="invite_accept"),
    path("dashboard/", include((dashboard_urlpatterns, "dashboard"))),
    path(
        "s/",
        include(
            (
                [
                    *commerce_urls.storefront_urlpatterns,
                    *rooms_urls.storefront_urlpatterns,
                    *assistant_urls.storefront_urlpatterns,
                    *consults_urls.storefront_urlpatterns,
                ],
                "storefront",
            )
        ),
    ),
    *commerce_urls.platform_urlpatterns,
    *media_urls.platform_urlpatterns,
    path("hls/", include("media.hls.urls")),
    path("i18n/setlang/", i18n.set_language, name="set_language"),
    # Only our catalog (LOCALE_PATHS): naming one app without a locale/ keeps the admin's and
    # DRF's JavaScript strings out of a script every page loads. Pages ask for it with their
    # language in the query string, so browsers may cache it (an hour) per language.
    path(
        "jsi18n/",
        cache_control(max_age=3600)(JavaScriptCatalog.as_view(packages=["liveshop.accounts"])),
        name="javascript-catalog",
    ),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("docs/realtime/", realtime_protocol, name="docs-realtime"),
    path("api/v1/", include(api_v1)),
]

handler400 = "liveshop.views.bad_request"
handler403 = "liveshop.views.permission_denied"
handler404 = "liveshop.views.page_not_found"
handler500 = "liveshop.views.server_error"
