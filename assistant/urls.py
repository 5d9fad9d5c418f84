from django.urls import path

from . import views
from .api import views as api

# Mounted at /dashboard/ in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("<slug:m>/assistant/", views.overview, name="assistant"),
    path("<slug:m>/assistant/faq/new/", views.faq_edit, name="assistant_faq_new"),
    path("<slug:m>/assistant/faq/<int:faq_id>/", views.faq_edit, name="assistant_faq"),
    path(
        "<slug:m>/assistant/faq/<int:faq_id>/delete/",
        views.faq_delete,
        name="assistant_faq_delete",
    ),
    path("<slug:m>/assistant/rooms/<slug:slug>/", views.room_page, name="assistant_room"),
    path(
        "<slug:m>/assistant/rooms/<slug:slug>/timeline/",
        views.show_timeline,
        name="assistant_timeline",
    ),
    path(
        "<slug:m>/assistant/rooms/<slug:slug>/unanswered/",
        views.unanswered,
        name="assistant_unanswered",
    ),
]

# Mounted at /s/ in the "storefront" namespace.
storefront_urlpatterns = [
    path("<slug:m>/replay/<slug:room>/", views.replay_page, name="replay"),
]

_M = "merchants/<slug:m>"
_S = "s/<slug:m>"
# Mounted at /api/v1/.
api_urlpatterns = [
    path(
        f"{_M}/rooms/<slug:slug>/assistant",
        api.RoomAssistantView.as_view(),
        name="api-room-assistant",
    ),
    path(
        f"{_M}/rooms/<slug:slug>/questions",
        api.QuestionListView.as_view(),
        name="api-room-questions",
    ),
    path(
        f"{_M}/rooms/<slug:slug>/questions/<int:question_id>/answer",
        api.QuestionAnswerView.as_view(),
        name="api-room-question-answer",
    ),
    path(
        f"{_M}/rooms/<slug:slug>/questions/<int:question_id>/dismiss",
        api.QuestionDismissView.as_view(),
        name="api-room-question-dismiss",
    ),
    path(
        f"{_M}/rooms/<slug:slug>/virtual-host",
        api.VirtualHostView.as_view(),
        name="api-room-virtual-host",
    ),
    path(f"{_M}/faq", api.FaqListView.as_view(), name="api-faq"),
    path(f"{_M}/faq/<int:faq_id>", api.FaqDetailView.as_view(), name="api-faq-entry"),
    path(f"{_M}/handoffs", api.HandoffListView.as_view(), name="api-handoffs"),
    path(
        f"{_M}/handoffs/<int:handoff_id>/close",
        api.HandoffCloseView.as_view(),
        name="api-handoff-close",
    ),
    path(f"{_S}/recommendations", api.RecommendationsView.as_view(), name="api-recommendations"),
    path(f"{_S}/rooms/<slug:room>/replay", api.ReplayStateView.as_view(), name="api-room-replay"),
    path(
        f"{_S}/handoffs/<int:handoff_id>",
        api.ShopperHandoffView.as_view(),
        name="api-shopper-handoff",
    ),
]
