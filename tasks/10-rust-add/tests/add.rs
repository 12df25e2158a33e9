use calc::add;

#[test]
fn adds_small_numbers() {
    assert_eq!(add(2, 3), 5);
}

#[test]
fn adds_a_negative() {
    assert_eq!(add(-1, 1), 0);
}
