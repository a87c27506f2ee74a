"""Evaluation results as server-side SVG: one horizontal bar per metric with its confidence interval as a whisker.

Pure: data in, SVG text out (every label escaped). The chart carries a <title> and <desc> and each bar a text
label with the value and interval, so a screen reader or a printout loses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from markupsafe import Markup, escape

ROW_HEIGHT = 28
LABEL_WIDTH = 220
PLOT_WIDTH = 300
VALUE_WIDTH = 170
_BAR = "#1f5fa8"  # 6.6:1 against white (WCAG AA for text and graphics)
_WHISKER = "#111111"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None


def _number(value: float) -> str:
    return f"{value:.3g}"


def _interval_text(bar: Bar) -> str:
    if bar.value is None:
        return "no value"
    if bar.ci_low is None or bar.ci_high is None:
        return _number(bar.value)
    return f"{_number(bar.value)} [{_number(bar.ci_low)}, {_number(bar.ci_high)}]"


def bar_chart(title: str, bars: list[Bar], chart_id: str = "chart") -> Markup:
    """Bars on a common scale from 0 to the largest value or interval end (at least 1, for proportions).
    `chart_id` (letters, digits, dashes) keeps the ids of several charts on one page apart."""
    chart_id = "".join(c for c in chart_id if c.isascii() and (c.isalnum() or c == "-")) or "chart"
    top = max([1.0, *(v for b in bars for v in (b.value, b.ci_high) if v is not None)])
    height = ROW_HEIGHT * max(1, len(bars)) + 24
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH

    def x(value: float) -> float:
        return LABEL_WIDTH + PLOT_WIDTH * max(0.0, min(value, top)) / top

    description = "; ".join(f"{b.label}: {_interval_text(b)}" for b in bars) or "no metrics"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" width="100%" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    for index, bar in enumerate(bars):
        y = index * ROW_HEIGHT + 4
        middle = y + ROW_HEIGHT / 2 - 2
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{middle + 4}" text-anchor="end" font-size="13">{escape(bar.label)}</text>'
        )
        if bar.value is not None:
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{x(bar.value) - LABEL_WIDTH:.1f}" '
                f'height="{ROW_HEIGHT - 12}" fill="{_BAR}"/>'
            )
        if bar.ci_low is not None and bar.ci_high is not None:
            low, high = x(bar.ci_low), x(bar.ci_high)
            parts.append(
                f'<path d="M{low:.1f},{middle:.1f}H{high:.1f}M{low:.1f},{middle - 6:.1f}V{middle + 6:.1f}'
                f'M{high:.1f},{middle - 6:.1f}V{middle + 6:.1f}" stroke="{_WHISKER}" stroke-width="2" fill="none"/>'
            )
        parts.append(
            f'<text x="{LABEL_WIDTH + PLOT_WIDTH + 8}" y="{middle + 4}" font-size="13">'
            f"{escape(_interval_text(bar))}</text>"
        )
    axis_y = ROW_HEIGHT * max(1, len(bars)) + 8
    parts.append(
        f'<path d="M{LABEL_WIDTH},{axis_y}H{LABEL_WIDTH + PLOT_WIDTH}" stroke="{_WHISKER}" stroke-width="1"/>'
        f'<text x="{LABEL_WIDTH}" y="{axis_y + 14}" font-size="11">0</text>'
        f'<text x="{LABEL_WIDTH + PLOT_WIDTH}" y="{axis_y + 14}" font-size="11" text-anchor="end">'
        f"{escape(_number(top))}</text>"
    )
    parts.append("</svg>")
    # Every text above went through escape() and every other value is a number we formatted.
    return Markup("".join(parts))  # noqa: S704
