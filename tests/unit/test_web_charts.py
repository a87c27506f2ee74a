"""Server-side SVG charts of evaluation results: scaled bars, interval whiskers, escaped labels, readable text."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from clearinghouse.web.charts import LABEL_WIDTH, PLOT_WIDTH, Bar, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_bars_and_whiskers_sit_on_one_scale() -> None:
    chart = bar_chart("scores", [Bar("solve rate", 0.5, 0.25, 0.75), Bar("accuracy", 1.0)])
    root = ET.fromstring(str(chart))
    widths = [float(rect.attrib["width"]) for rect in root.iter(f"{SVG}rect")]
    assert widths == [PLOT_WIDTH * 0.5, PLOT_WIDTH * 1.0]
    whisker = next(p.attrib["d"] for p in root.iter(f"{SVG}path") if "V" in p.attrib["d"])
    low, high = (float(x) for x in re.findall(r"M([\d.]+),[\d.]+H([\d.]+)", whisker)[0])
    assert (low, high) == (LABEL_WIDTH + PLOT_WIDTH * 0.25, LABEL_WIDTH + PLOT_WIDTH * 0.75)
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "0.5 [0.25, 0.75]" in texts and "1" in texts  # the value and interval as text, the axis end


def test_values_above_one_widen_the_scale_and_a_missing_value_draws_no_bar() -> None:
    root = ET.fromstring(str(bar_chart("counts", [Bar("flags", 8.0, 6.0, 10.0), Bar("skipped", None)])))
    assert [float(r.attrib["width"]) for r in root.iter(f"{SVG}rect")] == [PLOT_WIDTH * 0.8]
    assert "no value" in [t.text for t in root.iter(f"{SVG}text")]


def test_labels_are_escaped_and_described_for_screen_readers() -> None:
    chart = str(bar_chart("<script>", [Bar('a"<b>&', 0.1)]))
    assert "<script>" not in chart and "&lt;b&gt;" in chart
    root = ET.fromstring(chart)
    assert root.attrib["role"] == "img"
    assert root.find(f"{SVG}desc") is not None and 'a"<b>&: 0.1' in (root.find(f"{SVG}desc").text or "")
