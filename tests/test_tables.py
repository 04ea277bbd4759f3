import math

from fdunlearn.evaluation import tables


def test_kid_cells_are_the_stored_value_times_1000_with_decimals_by_size():
    assert tables.format_kid(0.0012, 0.0003) == "1.20 ± 0.30"  # lesson 05's CLIP KIDs
    assert tables.format_kid(0.0156, 0.0147) == "15.6 ± 14.7"
    assert tables.format_kid(-4.8253, 0.3311) == "-4825 ± 331"
    assert tables.format_kid(-4.8253, 0.3311, scale=tables.CLASSIFIER_KID) == "-4.83 ± 0.33"  # lesson 04's KIDs
    assert tables.kid_label(tables.CLASSIFIER_KID) == "KID (classifier features)"
    assert tables.format_kid(0.0012) == tables.format_kid(0.0012, math.nan) == "1.20"
    assert tables.format_kid(None, 0.1) == tables.format_kid(math.nan, 0.1) == "–"
    assert tables.KID_LABEL == "KID ×10³" and tables.KID_SCALE == 1000


def test_the_kid_note_comes_only_for_a_negative_kid_or_one_within_its_spread_of_zero():
    assert tables.needs_kid_note([(0.002, 0.001), (-0.0001, 0.0002)])
    assert tables.needs_kid_note([(0.002, 0.003)])  # spread larger than the mean
    assert not tables.needs_kid_note([(0.002, 0.001), (15.6, 14.7), (None, None), (math.nan, 1.0)])
    assert tables.kid_note([(0.002, 0.001)]) == ""
    assert tables.kid_note([(-0.002, None)]) == f"\n\n*{tables.KID_NOTE}*"
    assert "negative" in tables.KID_NOTE and "below 0" in tables.KID_NOTE
