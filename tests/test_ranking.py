"""The winner call, on hand-made figures whose answer is read off by eye."""

from bert_int8.stats.ranking import call, label, named

ROWS = {
    "a": {"ms": 1.0, "ms_lo": 0.9, "ms_hi": 1.1},
    "b": {"ms": 1.5, "ms_lo": 1.2, "ms_hi": 1.8},  # clear of a
    "c": {"ms": 1.05, "ms_lo": 1.1, "ms_hi": 1.3},  # touches a's high end: tied
    "d": {"ms": 2.0},  # no interval: its point
}


def test_a_winner_clears_every_other_interval():
    assert call(ROWS, ["a", "b"], "ms", lowest=True) == ("a", ["a"])
    assert call(ROWS, ["a", "b", "d"], "ms", lowest=False) == ("d", ["d"])  # 2.0 > b's 1.8


def test_touching_intervals_tie_and_the_tie_names_them_best_first():
    assert call(ROWS, ["b", "c", "a"], "ms", lowest=True) == (None, ["a", "c"])
    assert label(None, ["a", "c"]) == "tie: a, c" and named("tie: a, c") == ["a", "c"]
    assert label("a", ["a"]) == "a" and named("a") == ["a"]


def test_no_candidates():
    assert call(ROWS, [], "ms", lowest=True) == (None, []) and call(ROWS, ["a"], "other", True) == (None, [])
