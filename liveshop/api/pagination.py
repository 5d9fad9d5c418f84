from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`{count, next, previous, results}`; `?page=N&page_size=M` (M ≤ 100)."""

    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100
