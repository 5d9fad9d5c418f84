def test_order_search_with_odd_digits_is_not_an_error(api, owner, merchant):
    # Found by the API fuzzer: "¹".isdigit() is True but int("¹") fails; huge ids overflow.
    for q in ["¹", "٣", "9" * 40, "#12"]:
        response = api(owner).get("/api/v1/merchants/acme/orders", {"q": q})
        assert response.status_code == 200, q
