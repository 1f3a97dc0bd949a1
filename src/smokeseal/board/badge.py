"""A shields-style SVG badge of an app's latest seal, drawn without fetching anything."""

from __future__ import annotations

from html import escape

__all__ = ["COLOURS", "badge_svg", "text_width"]

COLOURS = {
    "green": "#2da44e",
    "red": "#cf222e",
    "pending": "#bf8700",
    "none": "#8c959f",
    "unknown": "#8c959f",
}

# Verdana 11px advance widths, roughly: enough to size the badge without a font file.
_NARROW = set("iljt.,:;|!'`()[]{} fIr")
_WIDE = set("mwMW@%")


def text_width(text: str) -> float:
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += 4.0
        elif char in _WIDE:
            width += 10.0
        elif char.isupper() or char.isdigit() or char in "#&+=<>?~_-":
            width += 7.5
        else:
            width += 6.8
    return width


def badge_svg(label: str, message: str, status: str) -> str:
    """``label | message``, the message on the status colour. Every text is XML-escaped."""
    colour = COLOURS.get(status, COLOURS["unknown"])
    left = round(text_width(label) + 12)
    right = round(text_width(message) + 12)
    total = left + right
    title = escape(f"{label}: {message}")
    label_x, message_x = left / 2, left + right / 2
    label, message = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{title}"><title>{title}</title>'
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{label_x}" y="15" fill="#010101" fill-opacity=".3">{label}</text>'
        f'<text x="{label_x}" y="14">{label}</text>'
        f'<text x="{message_x}" y="15" fill="#010101" fill-opacity=".3">{message}</text>'
        f'<text x="{message_x}" y="14">{message}</text></g></svg>'
    )
