from django.urls import path

from . import views
from .api import views as api

app_name = "dashboard"

# Mounted at /dashboard/
dashboard_urlpatterns = [
    path("", views.dashboard_home, name="home"),
    path("<slug:m>/", views.overview, name="overview"),
    path("<slug:m>/staff/", views.staff, name="staff"),
    path("<slug:m>/staff/<int:membership_id>/", views.staff_update, name="staff_update"),
    path("<slug:m>/invites/<int:invite_id>/revoke/", views.invite_revoke, name="invite_revoke"),
    path("<slug:m>/keys/", views.api_keys, name="api_keys"),
    path("<slug:m>/keys/<int:key_id>/revoke/", views.api_key_revoke, name="api_key_revoke"),
    path("<slug:m>/audit/", views.audit, name="audit"),
    path("<slug:m>/settings/", views.settings_page, name="settings"),
]

# Mounted at /api/v1/
api_urlpatterns = [
    path("merchants", api.MerchantListView.as_view(), name="api-merchants"),
    path("merchants/<slug:m>", api.MerchantDetailView.as_view(), name="api-merchant"),
    path("merchants/<slug:m>/staff", api.StaffListView.as_view(), name="api-staff"),
    path(
        "merchants/<slug:m>/staff/<int:membership_id>",
        api.StaffDetailView.as_view(),
        name="api-staff-detail",
    ),
    path("merchants/<slug:m>/invites", api.InviteListView.as_view(), name="api-invites"),
    path(
        "merchants/<slug:m>/invites/<int:invite_id>",
        api.InviteDetailView.as_view(),
        name="api-invite-detail",
    ),
    path("merchants/<slug:m>/api-keys", api.ApiKeyListView.as_view(), name="api-keys"),
    path(
        "merchants/<slug:m>/api-keys/<int:key_id>",
        api.ApiKeyDetailView.as_view(),
        name="api-key-detail",
    ),
    path("merchants/<slug:m>/audit-log", api.AuditLogView.as_view(), name="api-audit-log"),
]
