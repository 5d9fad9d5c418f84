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
