from django.urls import path

from liveshop.urls import handler400, handler403, handler404, handler500, urlpatterns

from .naive import NaiveOrderView

urlpatterns = [
    path("bench/s/<slug:m>/naive-orders", NaiveOrderView.as_view(), name="bench-naive-orders"),
    *urlpatterns,
]

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
