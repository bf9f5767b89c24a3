"""SVG badges (shields.io's flat style), sized to their text (pure).

Text widths come from a table of Verdana 11px advance widths, the font the badge asks
for first; a character not in the table counts as a wide one, so text never overflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from xml.sax.saxutils import escape

HEIGHT = 20
PADDING = 6  # each side of each half

# Verdana 11px advance widths (pixels) of the characters badges use.
_WIDTHS = {
    **dict.fromkeys("0123456789", 7.0),
    **dict.fromkeys("ijl.:,;!|'", 3.1),
    **dict.fromkeys("ftr()[] ", 4.4),
    **dict.fromkeys("acekpsvxyz?", 6.3),
    **dict.fromkeys("bdghnqu", 7.0),
    "o": 6.7,
    "m": 10.7,
    "w": 9.0,
    "%": 11.9,
    "-": 4.8,
    "_": 7.0,
    "/": 4.9,
}
_WIDE = 10.0  # anything else: wider than most glyphs

GREEN, YELLOW, ORANGE, RED, BLUE, GREY = (
    "#2e8540",
    "#b58900",
    "#d9661f",
    "#c62828",
    "#1f6fb2",
    "#6b7280",
)


def text_width(text: str) -> int:
    return round(sum(_WIDTHS.get(ch, _WIDE) for ch in text))


@dataclass(frozen=True, slots=True)
class Badge:
    label: str
    value: str
    color: str

    def svg(self) -> str:
        left = text_width(self.label) + 2 * PADDING
        right = text_width(self.value) + 2 * PADDING
        width = left + right
        label, value = escape(self.label), escape(self.value)
        title = f"{label}: {value}"
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{HEIGHT}" '
            f'role="img" aria-label="{escape(title, {chr(34): "&quot;"})}">'
            f"<title>{title}</title>"
            '<linearGradient id="s" x2="0" y2="100%">'
            '<stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
            '<stop offset="1" stop-opacity=".1"/></linearGradient>'
            f'<clipPath id="r"><rect width="{width}" height="{HEIGHT}" rx="3" fill="#fff"/>'
            "</clipPath>"
            f'<g clip-path="url(#r)"><rect width="{left}" height="{HEIGHT}" fill="#555"/>'
            f'<rect x="{left}" width="{right}" height="{HEIGHT}" fill="{self.color}"/>'
            f'<rect width="{width}" height="{HEIGHT}" fill="url(#s)"/></g>'
            '<g fill="#fff" text-anchor="middle" '
            'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
            f'<text x="{left / 2:g}" y="15" fill="#010101" fill-opacity=".3">{label}</text>'
            f'<text x="{left / 2:g}" y="14">{label}</text>'
            f'<text x="{left + right / 2:g}" y="15" fill="#010101" fill-opacity=".3">'
            f"{value}</text>"
            f'<text x="{left + right / 2:g}" y="14">{value}</text></g></svg>'
        )


def uptime_color(uptime: Decimal | None, target: Decimal) -> str:
    """Green at or above the target, then yellow, orange and red as it falls further
    (within a tenth of the remaining error budget's scale, a full point, beyond)."""
    if uptime is None:
        return GREY
    if uptime >= target:
        return GREEN
    budget = 100 - target
    if uptime >= target - budget:
        return YELLOW
    if uptime >= target - 10 * budget:
        return ORANGE
    return RED


def uptime_badge(label: str, uptime: Decimal | None, target: Decimal) -> Badge:
    """``uptime`` is the truncated percent the API shows (None: no figure yet)."""
    value = "no data" if uptime is None else f"{_short(uptime)}%"
    return Badge(label, value, uptime_color(uptime, target))


STATUS_BADGES = {
    "operational": ("up", GREEN),
    "degraded": ("degraded", YELLOW),
    "down": ("down", RED),
    "maintenance": ("maintenance", BLUE),
    "no_data": ("no data", GREY),
}


def status_badge(label: str, status: str) -> Badge:
    value, color = STATUS_BADGES[status]
    return Badge(label, value, color)


def _short(uptime: Decimal) -> str:
    """At most three decimals, trailing zeros dropped, never rounded up to 100."""
    text = f"{uptime.quantize(Decimal('0.001'), rounding='ROUND_DOWN'):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
