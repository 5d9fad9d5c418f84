from django.urls import path

from . import api, stage_api, whip

# Mounted at /api/v1/.
api_urlpatterns = [
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/stream-key",
        api.StreamKeyView.as_view(),
        name="api-room-stream-key",
    ),
    # --- stage: co-hosts and PK (media/stage_api.py) ---
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/stage",
        stage_api.HostStageView.as_view(),
        name="api-room-stage",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/stage/invites",
        stage_api.HostStageInviteView.as_view(),
        name="api-room-stage-invites",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/stage/<int:user>",
        stage_api.HostStageMemberView.as_view(),
        name="api-room-stage-member",
    ),
    path(
        "merchants/<slug:m>/rooms/<slug:slug>/pk",
        stage_api.HostPKView.as_view(),
        name="api-room-pk",
    ),
    path(
        "merchants/<slug:m>/pk/<int:pk_id>/breakdown",
        stage_api.HostPKBreakdownView.as_view(),
        name="api-pk-breakdown",
    ),
    path(
        "merchants/<slug:m>/pk/<int:pk_id>/<slug:action>",
        stage_api.HostPKActionView.as_view(),
        name="api-pk-action",
    ),
    path(
        "s/<slug:m>/rooms/<slug:room>/stage",
        stage_api.StorefrontStageView.as_view(),
        name="api-storefront-stage",
    ),
    path(
        "s/<slug:m>/rooms/<slug:room>/stage/accept",
        stage_api.StorefrontStageAcceptView.as_view(),
        name="api-storefront-stage-accept",
    ),
    path(
        "s/<slug:m>/rooms/<slug:room>/stage/leave",
        stage_api.StorefrontStageLeaveView.as_view(),
        name="api-storefront-stage-leave",
    ),
    path(
        "s/<slug:m>/rooms/<slug:room>/pk",
        stage_api.StorefrontPKView.as_view(),
        name="api-storefront-pk",
    ),
]

# Mounted at the root: WHIP ingest (RFC 9725), authorised by the room's stream key.
platform_urlpatterns = [
    path("whip/<slug:m>/<slug:room>", whip.whip_endpoint, name="whip"),
    path("whip/<slug:m>/<slug:room>/<str:resource>", whip.whip_resource, name="whip-resource"),
]
