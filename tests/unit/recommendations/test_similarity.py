"""Similar-items rules: bounded updates per event, the Space-Saving merge, ranking and what is never recommended."""

from __future__ import annotations

from chalicelib.recommendations.similarity import (
    MAX_ORDER_PRODUCTS,
    NEIGHBOURS,
    RECENT_ITEMS,
    Delta,
    Person,
    card_of,
    event_deltas,
    in_stock,
    merge,
    person_of,
    rank,
)
from tests.fakes.recommendations import applied


def cards(*ids: str) -> list[dict]:
    return [{"product_id": i} for i in ids]


def test_a_view_updates_its_own_list_those_of_at_most_five_recent_items_and_two_popularity_lists():
    deltas = event_deltas("Product Viewed", {"product_id": "p", "category": "Tea"}, cards(*"abcdefgh"), [])
    assert set(deltas) == {"sim#p", *(f"sim#{x}" for x in "abcde"), "pop#*", "pop#tea"}
    assert deltas["sim#p"].pairs == dict.fromkeys("abcde", 1.0) and deltas["sim#p"].total == 1.0
    assert deltas["sim#a"].pairs == {"p": 1.0}
    assert len(deltas) == RECENT_ITEMS + 3  # the write bound: independent of the catalog's size


def test_an_order_pairs_its_products_views_and_earlier_purchases_with_heavier_weights():
    products = [{"product_id": f"o{i}"} for i in range(MAX_ORDER_PRODUCTS + 3)]
    deltas = event_deltas("Order Completed", {"products": products}, cards("v"), ["old", "o0"])
    assert deltas["sim#o0"].pairs["o1"] == 3.0 and deltas["sim#o0"].pairs["v"] == 2.0
    assert deltas["sim#o0"].pairs["old"] == 3.0 and deltas["sim#old"].pairs["o0"] == 3.0
    assert "sim#o6" not in deltas  # an order pairs at most MAX_ORDER_PRODUCTS of its products
    assert event_deltas("Page Viewed", {"product_id": "x"}, [], []) == {}
    assert event_deltas("Product Viewed", {"name": "no id"}, [], []) == {}


def test_a_full_list_replaces_its_smallest_entry_and_the_newcomer_inherits_its_count():
    state = {"t": 9.0, "n": {f"p{i}": float(i + 1) for i in range(NEIGHBOURS)}, "c": {}, "u": {}}
    delta = Delta()
    delta.add("new", 1.0, {"product_id": "new", "name": "New"})
    merged = merge(state, delta, NEIGHBOURS)
    assert len(merged["n"]) == NEIGHBOURS and "p0" not in merged["n"]
    assert merged["n"]["new"] == 2.0  # 1 inherited + 1 new: never below its true count
    assert merged["c"]["new"]["name"] == "New"


def test_a_card_without_stock_keeps_the_stock_an_earlier_card_gave():
    first = Delta()
    first.add("x", 1.0, {"product_id": "x", "in_stock": False})
    second = Delta()
    second.add("x", 1.0, {"product_id": "x", "name": "X"})
    state = merge(merge(None, first, 5), second, 5)
    assert state["c"]["x"] == {"product_id": "x", "in_stock": False, "name": "X"}


def test_stock_is_read_from_the_usual_product_properties():
    assert in_stock({"in_stock": False}) is False
    assert in_stock({"stock": 0}) is False and in_stock({"inventory": 3}) is True
    assert in_stock({"availability": "https://schema.org/OutOfStock"}) is False
    assert in_stock({"availability": "in_stock"}) is True and in_stock({}) is None
    assert card_of({"sku": 7, "price": "9", "name": " Tea "}) == {"product_id": "7", "name": "Tea"}


def learnt(*baskets: tuple[str, ...]) -> dict:
    lists: dict = {}
    for n, basket in enumerate(baskets):
        for i, pid in enumerate(basket):
            deltas = event_deltas("Product Viewed", {"product_id": pid, "category": "c"}, cards(*basket[:i][::-1]), [])
            applied(lists, deltas)
        del n
    return lists


def test_ranking_prefers_what_goes_with_the_persons_items_over_what_is_merely_popular():
    lists = learnt(*[("a", "b")] * 3, *[("hit", "x")] * 10, ("a", "hit"))
    ranked = rank(Person(viewed=("a",)), lists, 3)
    assert ranked[0]["product_id"] == "b" and ranked[0]["reason"] == "similar"
    assert [r["reason"] for r in ranked[1:]] == ["similar", "popular"] or ranked[1]["reason"] == "similar"


def test_purchased_in_cart_viewed_excluded_and_out_of_stock_products_are_never_ranked():
    lists = learnt(*[("a", "b", "c", "d", "e")] * 2)
    lists["sim#a"]["c"]["e"] = {"product_id": "e", "in_stock": False}  # one card read says sold out: enough
    person = Person(viewed=("a",), cart=("b",), purchased=("c",))
    ids = [r["product_id"] for r in rank(person, lists, 10, exclude=["d"])]
    assert ids == []  # every neighbour of `a` is excluded and the popular list holds only the same five
    assert [r["product_id"] for r in rank(Person(viewed=("a",)), lists, 10, unavailable=["b"])] == ["c", "d"]


def test_a_new_visitor_gets_popular_in_their_category_then_overall():
    lists = learnt(*[("t1",)] * 3, *[("k1",)] * 5)
    lists["pop#tea"] = {"n": {"t1": 3.0}, "c": {}}
    ranked = rank(Person(categories=("tea",)), lists, 2)
    assert [(r["product_id"], r["reason"]) for r in ranked] == [("t1", "popular_in_category"), ("k1", "popular")]
    assert [r["product_id"] for r in rank(Person(), lists, 5)] == ["k1", "t1"]


def test_a_person_reads_one_list_per_seed_plus_their_categories_and_overall():
    profile = {
        "computed": {
            "viewed_products": [{"product_id": "v1"}, {"product_id": "v2"}],
            "cart": [{"product_id": "c1"}],
            "purchased_products": ["b1"],
            "top_categories": ["tea", "pots", "cups"],
        }
    }
    person = person_of(profile)
    # the catalog's out-of-stock list rides in the same batch read
    assert person.keys() == ["sim#c1", "sim#v1", "sim#v2", "sim#b1", "pop#tea", "pop#pots", "pop#*", "stock#out"]
    assert person_of(None).keys() == ["pop#*", "stock#out"]
