"""How the console writes figures and times on its pages (Jinja2 filters, registered in ``console.app``).

- ``figure``: a number rounded for reading (3 decimals by default), "–" for none;
- ``ago``: a time as people read it ("4 min ago", "in 11 h"), the exact UTC time on hover.
"""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup, escape

NONE = "–"


def figure(value, digits: int = 3) -> str:
    if value is None or value == "":
        return NONE
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _when(value) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    try:
        found = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def span(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable: 12 s, 4 min, 3 h, 2 days."""
    seconds = abs(seconds)
    for limit, unit, size in ((90, "s", 1), (90 * 60, "min", 60), (48 * 3600, "h", 3600)):
        if seconds < limit:
            return f"{round(seconds / size)} {unit}"
    return f"{round(seconds / 86400)} days"


def ago(value, now: datetime | None = None, never: str = "never") -> Markup:
    """``<time>`` saying how long ago (or how soon) ``value`` is, the exact time in its title."""
    when = _when(value)
    if when is None:
        return Markup(escape(never if value in (None, "") else str(value)))
    now = now or datetime.now(UTC)
    delta = (now - when).total_seconds()
    said = "just now" if abs(delta) < 2 else (f"{span(delta)} ago" if delta > 0 else f"in {span(delta)}")
    exact = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup(
        f'<time datetime="{escape(when.isoformat())}" title="{escape(exact)}" data-epoch="{when.timestamp():.0f}">'
        f"{escape(said)}</time>"
    )
