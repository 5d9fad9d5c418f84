from django.urls import path, register_converter

from . import views
from .api import views as api
from .models import PUBLIC_ID_RE


class PublicIdConverter:
    """Consults and bookings are addressed by 22-character unguessable ids."""

    regex = PUBLIC_ID_RE

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(PublicIdConverter, "pid")

# Mounted at /dashboard/ in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("<slug:m>/consults/", views.console, name="consults"),
    path("<slug:m>/consults/history/", views.history, name="consult_history"),
    path("<slug:m>/consults/analytics/", views.analytics, name="consult_analytics"),
    path("<slug:m>/consults/availability/", views.availability, name="consult_availability"),
    path("<slug:m>/consults/<pid:consult>/", views.consult_detail, name="consult"),
    path("<slug:m>/consults/<pid:consult>/supervise/", views.supervise, name="consult_supervise"),
    path(
        "<slug:m>/consults/<pid:consult>/recordings/<int:recording_id>/delete/",
        views.recording_delete,
        name="consult_recording_delete",
    ),
]

# Mounted at /s/ in the "storefront" namespace.
storefront_urlpatterns = [
    path("<slug:m>/consults/<pid:consult>/", views.call_page, name="consult_call"),
    path("<slug:m>/consults/bookings/<pid:booking>/", views.booking_page, name="consult_booking"),
]

_M = "merchants/<slug:m>/consults"
_S = "s/<slug:m>/consults"
# Mounted at /api/v1/.
api_urlpatterns = [
    path(_M, api.ConsultListView.as_view(), name="api-consults"),
    path(f"{_M}/queue", api.ConsoleView.as_view(), name="api-consult-console"),
    path(f"{_M}/presence", api.PresenceView.as_view(), name="api-consult-presence"),
    path(f"{_M}/accept", api.AcceptView.as_view(), name="api-consult-accept"),
    path(f"{_M}/analytics", api.AnalyticsView.as_view(), name="api-consult-analytics"),
    path(f"{_M}/availability", api.AvailabilityListView.as_view(), name="api-consult-windows"),
    path(
        f"{_M}/availability/<int:window_id>",
        api.AvailabilityDetailView.as_view(),
        name="api-consult-window",
    ),
    path(f"{_M}/bookings", api.BookingListView.as_view(), name="api-consult-bookings"),
    path(f"{_M}/<pid:consult_id>", api.ConsultDetailView.as_view(), name="api-consult"),
    path(f"{_M}/<pid:consult_id>/join", api.ConsultJoinView.as_view(), name="api-consult-join"),
    path(f"{_M}/<pid:consult_id>/end", api.ConsultEndView.as_view(), name="api-consult-end"),
    path(f"{_M}/<pid:consult_id>/products", api.ConsultPushView.as_view(), name="api-consult-push"),
    path(f"{_M}/<pid:consult_id>/cart", api.ConsultCartView.as_view(), name="api-consult-cart"),
    path(
        f"{_M}/<pid:consult_id>/cart/send",
        api.ConsultCartSendView.as_view(),
        name="api-consult-cart-send",
    ),
    path(
        f"{_M}/<pid:consult_id>/consent",
        api.ConsultConsentView.as_view(),
        name="api-consult-consent",
    ),
    path(
        f"{_M}/<pid:consult_id>/recordings",
        api.ConsultRecordingListView.as_view(),
        name="api-consult-recordings",
    ),
    path(
        f"{_M}/<pid:consult_id>/recordings/<int:recording_id>",
        api.ConsultRecordingDetailView.as_view(),
        name="api-consult-recording",
    ),
    path(_S, api.ShopperConsultListView.as_view(), name="api-shopper-consults"),
    path(f"{_S}/options", api.StorefrontConsultOptionsView.as_view(), name="api-consult-options"),
    path(f"{_S}/slots", api.StorefrontSlotsView.as_view(), name="api-consult-slots"),
    path(f"{_S}/bookings", api.ShopperBookingListView.as_view(), name="api-shopper-bookings"),
    path(
        f"{_S}/bookings/<pid:booking_id>/cancel",
        api.ShopperBookingCancelView.as_view(),
        name="api-shopper-booking-cancel",
    ),
    path(
        f"{_S}/bookings/<pid:booking_id>/start",
        api.ShopperBookingStartView.as_view(),
        name="api-shopper-booking-start",
    ),
    path(
        f"{_S}/<pid:consult_id>", api.ShopperConsultDetailView.as_view(), name="api-shopper-consult"
    ),
    path(
        f"{_S}/<pid:consult_id>/join",
        api.ShopperConsultJoinView.as_view(),
        name="api-shopper-consult-join",
    ),
    path(
        f"{_S}/<pid:consult_id>/cancel",
        api.ShopperConsultCancelView.as_view(),
        name="api-shopper-consult-cancel",
    ),
    path(
        f"{_S}/<pid:consult_id>/end",
        api.ShopperConsultEndView.as_view(),
        name="api-shopper-consult-end",
    ),
    path(
        f"{_S}/<pid:consult_id>/rating",
        api.ShopperConsultRatingView.as_view(),
        name="api-shopper-consult-rating",
    ),
]
