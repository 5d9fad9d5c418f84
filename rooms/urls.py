from django.urls import path

from . import views
from .api import views as api

# Mounted at /dashboard/ in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("<slug:m>/rooms/", views.rooms, name="rooms"),
    path("<slug:m>/rooms/new/", views.room_new, name="room_new"),
    path("<slug:m>/rooms/<slug:slug>/", views.room_detail, name="room"),
    path("<slug:m>/rooms/<slug:slug>/lineup/", views.room_lineup, name="room_lineup"),
    path("<slug:m>/rooms/<slug:slug>/status/", views.room_status, name="room_status"),
    path("<slug:m>/rooms/<slug:slug>/console/", views.room_console, name="room_console"),
]

# Mounted at /s/ in the "storefront" namespace.
storefront_urlpatterns = [
    path("<slug:m>/live/<slug:room>/", views.room_page, name="room_page"),
]

# Mounted at /api/v1/.
api_urlpatterns = [
    path("merchants/<slug:m>/rooms", api.RoomListView.as_view(), name="api-rooms"),
    path("merchants/<slug:m>/rooms/<slug:slug>", api.RoomDetailView.as_view(), name="api-room"),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/lineup",
        api.RoomLineupView.as_view(),
        name="api-room-lineup",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/go-live",
        api.RoomGoLiveView.as_view(),
        name="api-room-go-live",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/end", api.RoomEndView.as_view(), name="api-room-end"
    ),
    path("s/<slug:m>/rooms", api.StorefrontRoomListView.as_view(), name="api-storefront-rooms"),
    path(
        "s/<slug:m>/rooms/<slug:room>",
        api.StorefrontRoomDetailView.as_view(),
        name="api-storefront-room",
    ),
]

# --- economy: wallets, top-ups, gift catalog, leaderboard (rooms/economy.py) ----------------
from . import economy_views  # noqa: E402
from .api import economy as economy_api  # noqa: E402

dashboard_urlpatterns += [
    path("<slug:m>/gifts/", economy_views.gifts, name="gifts"),
    path("<slug:m>/gifts/<slug:code>/", economy_views.gift_edit, name="gift"),
    path(
        "<slug:m>/topups/<int:topup_id>/refund/",
        economy_views.topup_refund,
        name="topup_refund",
    ),
]
storefront_urlpatterns += [
    path("<slug:m>/wallet/", economy_views.wallet_page, name="wallet"),
    path(
        "<slug:m>/wallet/topups/<int:topup_id>/pay/",
        economy_views.wallet_topup_pay,
        name="wallet_topup_pay",
    ),
]
api_urlpatterns += [
    path("s/<slug:m>/wallet", economy_api.WalletView.as_view(), name="api-wallet"),
    path("s/<slug:m>/wallet/topups", economy_api.TopUpListView.as_view(), name="api-topups"),
    path("s/<slug:m>/gifts", economy_api.StorefrontGiftListView.as_view(), name="api-gifts"),
    path(
        "s/<slug:m>/rooms/<slug:room>/gifts",
        economy_api.RoomGiftSendView.as_view(),
        name="api-room-gift-send",
    ),
    path(
        "s/<slug:m>/rooms/<slug:room>/leaderboard",
        economy_api.LeaderboardView.as_view(),
        name="api-room-leaderboard",
    ),
    path("merchants/<slug:m>/gifts", economy_api.GiftListView.as_view(), name="api-staff-gifts"),
    path(
        "merchants/<slug:m>/gifts/<slug:gift_code>",
        economy_api.GiftDetailView.as_view(),
        name="api-staff-gift",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/gifts",
        economy_api.RoomGiftTotalsView.as_view(),
        name="api-room-gift-totals",
    ),
    path(
        "merchants/<slug:m>/topups",
        economy_api.StaffTopUpListView.as_view(),
        name="api-staff-topups",
    ),
    path(
        "merchants/<slug:m>/topups/<int:topup_id>/refund",
        economy_api.TopUpRefundView.as_view(),
        name="api-staff-topup-refund",
    ),
]

# --- selling: pins, flash sales, waitlist, moderation, show counters (rooms/selling.py) ------
from . import selling_views  # noqa: E402
from .api import selling as selling_api  # noqa: E402

dashboard_urlpatterns += [
    path("<slug:m>/moderation/", selling_views.moderation_settings, name="moderation"),
    path(
        "<slug:m>/rooms/<slug:slug>/selling/",
        selling_views.room_selling,
        name="room_selling",
    ),
]
api_urlpatterns += [
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/stats",
        selling_api.RoomStatsView.as_view(),
        name="api-room-stats",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/pin",
        selling_api.RoomPinView.as_view(),
        name="api-room-pin",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/flash-sale",
        selling_api.RoomFlashSaleView.as_view(),
        name="api-room-flash-sale",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/moderation",
        selling_api.RoomModerationView.as_view(),
        name="api-room-moderation",
    ),
    path(
        "s/<slug:m>/rooms/<slug:room>/waitlist",
        selling_api.WaitlistView.as_view(),
        name="api-room-waitlist",
    ),
]
