"""Charts drawn on the server as SVG with matplotlib, from the same suppressed figures the tables show.

matplotlib: the charting library the UK's statistical producers use from Python, long maintained, drawing
without a browser or JavaScript, and deterministic output (a fixed hash salt, no date). Its SVG carries
CSS in style attributes and a <style> element, which the portal's Content-Security-Policy (style-src 'self')
does not allow, so every declaration is rewritten as the equivalent SVG presentation attribute.

A suppressed figure is never drawn: its bar is left out and "[c]" is written where it would stand.
Colours (the Analysis Function's categorical palette, each at least 3:1 against white) come with a dark
outline and a different hatching per provider, so no series is told apart by colour alone.
"""

from __future__ import annotations

import io
import re
from html import escape

import matplotlib
from matplotlib.figure import Figure

from gateway.web.commissioner.view import TrendView

# Dark blue, turquoise, dark pink, orange, dark grey, purple: each 3:1 or more against white.
COLOURS = ("#12436D", "#28A197", "#801650", "#F46A25", "#3D3D3D", "#A285D1")
HATCHES = ("", "//", "..", "xx", "\\\\", "--")
OUTLINE = "#0B0C0C"
SUPPRESSED_MARK = "[c]"
_STYLE_ATTRIBUTE = re.compile(r'style="([^"]*)"')
_STYLE_ELEMENT = re.compile(r"<style[^>]*>.*?</style>", re.S)
_SVG_OPEN = re.compile(r"<svg\b[^>]*>")
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.S)


def _as_attributes(match: re.Match[str]) -> str:
    declarations = [d.split(":", 1) for d in match.group(1).split(";") if ":" in d]
    return " ".join(f'{name.strip()}="{escape(value.strip(), quote=True)}"' for name, value in declarations)


def _without_css(svg: str) -> str:
    svg = _METADATA.sub("", _STYLE_ELEMENT.sub("", svg))
    return _STYLE_ATTRIBUTE.sub(_as_attributes, svg)


def trend_chart(view: TrendView, *, title: str) -> bytes:
    """A grouped bar chart: each quarter a group, each provider a bar; the all-providers line is in the table."""
    figure = Figure(figsize=(8, 5.5), dpi=100)
    axes = figure.add_subplot()
    count = max(len(view.providers), 1)
    width = 0.8 / count
    tallest = max((c.value or 0 for s in view.providers for c in s.counts), default=0)
    for index, series in enumerate(view.providers):
        for quarter, figure_count in enumerate(series.counts):
            x = quarter - 0.4 + width * (index + 0.5)
            if figure_count.suppressed or figure_count.value is None:
                axes.text(x, tallest * 0.01, SUPPRESSED_MARK, ha="center", va="bottom", fontsize=7, color=OUTLINE)
                continue
            axes.bar(
                x,
                figure_count.value,
                width=width,
                color=COLOURS[index % len(COLOURS)],
                edgecolor=OUTLINE,
                linewidth=0.8,
                hatch=HATCHES[index % len(HATCHES)],
            )
    # One legend entry per provider, drawn from proxies so a provider whose first bar is hidden still has one.
    handles = [
        axes.bar(0, 0, width=0, color=COLOURS[i % len(COLOURS)], edgecolor=OUTLINE, hatch=HATCHES[i % len(HATCHES)])
        for i in range(len(view.providers))
    ]
    axes.legend(
        handles,
        [s.name for s in view.providers],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.1),
        ncol=2,
        fontsize=8,
        frameon=False,
    )
    axes.set_xticks(range(len(view.periods)), list(view.periods))
    axes.set_ylabel("Count")
    axes.set_ylim(bottom=0, top=max(tallest * 1.15, 5))
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(title, fontsize=11, loc="left")
    figure.text(0.01, 0.01, f"{SUPPRESSED_MARK} suppressed: not drawn.", fontsize=7)
    figure.tight_layout()
    buffer = io.StringIO()
    # Text as outlines (no font needed by the reader) and a fixed salt for ids: the same figures, the same bytes.
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "commissioner-chart"}):
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = _without_css(buffer.getvalue())
    opened = _SVG_OPEN.search(svg)
    assert opened is not None
    labelled = opened.group(0)[:-1] + ' role="img" aria-label="' + escape(title, quote=True) + '">'
    svg = svg[: opened.start()] + labelled + f"<title>{escape(title)}</title>" + svg[opened.end() :]
    return svg.encode()
