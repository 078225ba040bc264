"""Line charts of a run's metrics per epoch, drawn as inline SVG on the server (no script, no
library fetched by the browser)."""

from __future__ import annotations

import math
from html import escape

COLOURS = ["#2563eb", "#dc2626", "#16a34a", "#9333ea"]
WIDTH, HEIGHT, PAD = 480, 220, 36


def line_chart(title: str, x: list[float], series: dict[str, list[float]]) -> str:
    """An SVG with one polyline per series against ``x`` (epochs), axes labelled with min and max."""
    finite = [v for values in series.values() for v in values if math.isfinite(v)]
    if not x or not finite:
        return f'<p class="muted">{escape(title)}: no values yet</p>'
    low, high = min(finite), max(finite)
    if high == low:
        high = low + 1.0
    first, last = min(x), max(x)
    span = (last - first) or 1.0

    def point(epoch: float, value: float) -> str:
        px = PAD + (epoch - first) / span * (WIDTH - 2 * PAD)
        py = HEIGHT - PAD - (value - low) / (high - low) * (HEIGHT - 2 * PAD)
        return f"{px:.1f},{py:.1f}"

    lines, legend = [], []
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = " ".join(point(e, v) for e, v in zip(x, values, strict=False) if math.isfinite(v))
        lines.append(f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
        legend.append(f'<text x="{PAD + i * 150}" y="16" fill="{colour}" font-size="12">{escape(name)}</text>')
    axes = (
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#888"/>'
        f'<text x="2" y="{PAD + 4}" font-size="11">{high:.3g}</text>'
        f'<text x="2" y="{HEIGHT - PAD}" font-size="11">{low:.3g}</text>'
        f'<text x="{PAD}" y="{HEIGHT - 12}" font-size="11">epoch {first:g}</text>'
        f'<text x="{WIDTH - PAD - 50}" y="{HEIGHT - 12}" font-size="11">epoch {last:g}</text>'
    )
    return (
        f'<figure class="chart"><svg viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"{axes}{''.join(lines)}{''.join(legend)}</svg><figcaption>{escape(title)}</figcaption></figure>"
    )
