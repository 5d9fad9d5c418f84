from django.urls import path

from . import dashboard_views, views
from .api import views as api

# Mounted at /s/ in the "storefront" namespace.
storefront_urlpatterns = [
    path("<slug:m>/", views.storefront_home, name="home"),
    path("<slug:m>/p/<int:product_id>/", views.product_page, name="product"),
    path("<slug:m>/cart/", views.cart_page, name="cart"),
    path("<slug:m>/checkout/", views.checkout_page, name="checkout"),
    path("<slug:m>/orders/", views.orders_page, name="orders"),
    path("<slug:m>/orders/<int:order_id>/", views.order_page, name="order"),
    path("<slug:m>/orders/<int:order_id>/pay/", views.order_pay, name="order_pay"),
    path("<slug:m>/orders/<int:order_id>/cancel/", views.order_cancel, name="order_cancel"),
]

# Mounted at /dashboard/ in the "dashboard" namespace.
dashboard_urlpatterns = [
    path("<slug:m>/products/", dashboard_views.products, name="products"),
    path("<slug:m>/products/new/", dashboard_views.product_new, name="product_new"),
    path("<slug:m>/products/<int:product_id>/", dashboard_views.product_detail, name="product"),
    path(
        "<slug:m>/products/<int:product_id>/delete/",
        dashboard_views.product_delete,
        name="product_delete",
    ),
    path(
        "<slug:m>/products/<int:product_id>/variants/new/",
        dashboard_views.variant_new,
        name="variant_new",
    ),
    path(
        "<slug:m>/products/<int:product_id>/variants/<int:variant_id>/",
        dashboard_views.variant_update,
        name="variant_update",
    ),
    path("<slug:m>/orders/", dashboard_views.orders, name="orders"),
    path("<slug:m>/orders/<int:order_id>/", dashboard_views.order_detail, name="order"),
    path(
        "<slug:m>/orders/<int:order_id>/action/", dashboard_views.order_action, name="order_action"
    ),
]

_M = "merchants/<slug:m>"
_S = "s/<slug:m>"
# Mounted at /api/v1/.
api_urlpatterns = [
    path(f"{_M}/products", api.ProductListView.as_view(), name="api-products"),
    path(f"{_M}/products/<int:product_id>", api.ProductDetailView.as_view(), name="api-product"),
    path(
        f"{_M}/products/<int:product_id>/variants",
        api.VariantListView.as_view(),
        name="api-variants",
    ),
    path(
        f"{_M}/products/<int:product_id>/variants/<int:variant_id>",
        api.VariantDetailView.as_view(),
        name="api-variant",
    ),
    path(
        f"{_M}/products/<int:product_id>/variants/<int:variant_id>/adjust-stock",
        api.StockAdjustView.as_view(),
        name="api-variant-adjust-stock",
    ),
    path(f"{_M}/orders", api.OrderListView.as_view(), name="api-orders"),
    path(f"{_M}/orders/<int:order_id>", api.OrderDetailView.as_view(), name="api-order"),
    path(f"{_M}/orders/<int:order_id>/lines", api.DraftLinesView.as_view(), name="api-order-lines"),
    path(f"{_M}/orders/<int:order_id>/send", api.DraftSendView.as_view(), name="api-order-send"),
    path(
        f"{_M}/orders/<int:order_id>/fulfil", api.OrderFulfilView.as_view(), name="api-order-fulfil"
    ),
    path(
        f"{_M}/orders/<int:order_id>/cancel", api.OrderCancelView.as_view(), name="api-order-cancel"
    ),
    path(
        f"{_M}/orders/<int:order_id>/refund", api.OrderRefundView.as_view(), name="api-order-refund"
    ),
    path(f"{_S}/products", api.StorefrontProductListView.as_view(), name="api-storefront-products"),
    path(
        f"{_S}/products/<int:product_id>",
        api.StorefrontProductDetailView.as_view(),
        name="api-storefront-product",
    ),
    path(f"{_S}/orders", api.ShopperOrderListView.as_view(), name="api-shopper-orders"),
    path(
        f"{_S}/orders/<int:order_id>",
        api.ShopperOrderDetailView.as_view(),
        name="api-shopper-order",
    ),
    path(
        f"{_S}/orders/<int:order_id>/pay",
        api.ShopperOrderPayView.as_view(),
        name="api-shopper-order-pay",
    ),
    path(
        f"{_S}/orders/<int:order_id>/cancel",
        api.ShopperOrderCancelView.as_view(),
        name="api-shopper-order-cancel",
    ),
    path(f"{_S}/addresses", api.AddressListView.as_view(), name="api-shopper-addresses"),
    path(
        f"{_S}/addresses/<int:address_id>",
        api.AddressDetailView.as_view(),
        name="api-shopper-address",
    ),
    path(
        "payments/webhook/<slug:gateway>",
        api.PaymentWebhookView.as_view(),
        name="api-payment-webhook",
    ),
]

# Platform pages (no merchant in the URL): the sandbox gateway's checkout.
platform_urlpatterns = [
    path("sandbox/pay/<str:ref>/", views.sandbox_pay, name="sandbox-pay"),
]
