import pytest
from inventory import InvalidQuantityError, Inventory, InventoryError, OutOfStockError


@pytest.fixture
def inv():
    inventory = Inventory()
    inventory.add("bolt", 10)
    inventory.add("nut", 4)
    return inventory


def test_starts_empty():
    inventory = Inventory()
    assert len(inventory) == 0
    assert inventory.items() == {}
    assert inventory.total() == 0


def test_add_returns_new_count(inv):
    assert inv.add("bolt", 5) == 15
    assert inv.add("washer") == 1
    assert inv.count("bolt") == 15


def test_remove_returns_new_count(inv):
    assert inv.remove("bolt", 3) == 7
    assert inv.remove("bolt") == 6


def test_count_unknown_is_zero(inv):
    assert inv.count("gear") == 0


def test_remove_to_zero_forgets_item(inv):
    assert inv.remove("nut", 4) == 0
    assert "nut" not in inv
    assert inv.items() == {"bolt": 10}
    assert len(inv) == 1


def test_items_sorted_copy(inv):
    inv.add("axle", 2)
    items = inv.items()
    assert list(items) == ["axle", "bolt", "nut"]
    items["bolt"] = 999
    assert inv.count("bolt") == 10


def test_total_and_len(inv):
    assert inv.total() == 14
    assert len(inv) == 2
    assert "bolt" in inv
    assert "gear" not in inv


def test_low_stock(inv):
    inv.add("axle", 1)
    assert inv.low_stock(5) == ["axle", "nut"]
    assert inv.low_stock(1) == []


def test_out_of_stock_changes_nothing(inv):
    with pytest.raises(OutOfStockError) as info:
        inv.remove("nut", 5)
    assert info.value.name == "nut"
    assert info.value.requested == 5
    assert info.value.available == 4
    assert inv.count("nut") == 4


def test_remove_unknown_item(inv):
    with pytest.raises(OutOfStockError) as info:
        inv.remove("gear")
    assert info.value.available == 0


@pytest.mark.parametrize("qty", [0, -2, 1.5, "3", True])
def test_invalid_quantity(inv, qty):
    with pytest.raises(InvalidQuantityError):
        inv.add("bolt", qty)
    with pytest.raises(InvalidQuantityError):
        inv.remove("bolt", qty)
    assert inv.count("bolt") == 10


@pytest.mark.parametrize("name", ["", "   "])
def test_invalid_name(name):
    with pytest.raises(ValueError):
        Inventory().add(name)


def test_exception_hierarchy():
    assert issubclass(OutOfStockError, InventoryError)
    assert issubclass(InvalidQuantityError, InventoryError)
    assert issubclass(InvalidQuantityError, ValueError)
    assert issubclass(InventoryError, Exception)
