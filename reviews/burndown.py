"""A campaign's burn-down chart, drawn on the server as SVG geometry (no charting script, no CDN, and no
inline style: the template gives the shapes classes that reviews.css colours, so the CSP stays strict).

Pure: `chart(...)` takes the day-by-day counts of items still open and returns what the template draws — the
actual line, the ideal line from everything open at the start to nothing open at the deadline, the axes'
ticks and a text summary for screen readers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 28  # margins inside the viewBox for the axes' labels


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    actual: str  # SVG polyline points
    ideal: str
    today_x: float | None  # the "now" marker, when now lies inside the campaign
    deadline_x: float
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    plot_left: float
    plot_right: float
    plot_top: float
    plot_bottom: float
    summary: str
    last: Tick | None  # the actual line's last point (a dot)


def _nice_step(top: int) -> int:
    """A round step giving at most five ticks up to `top`."""
    for step in (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 25000, 50000, 100000):
        if top / step <= 5:
            return step
    return max(1, top // 5)


def chart(*, days: list[tuple[date, int]], total: int, start: date, due: date, today: date) -> Chart:
    """`days`: (day, items still open at that day's end), from `start`, each day at most once, up to today."""
    last = max([due, *(day for day, _ in days)])  # past the deadline the axis runs on to the last day shown
    span = max((last - start).days, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max(total, max((open_ for _, open_ in days), default=0), 1)

    def x(day: date) -> float:
        return round(LEFT + plot_w * min(max((day - start).days, 0), span) / span, 1)

    def y(value: int) -> float:
        return round(TOP + plot_h * (1 - value / top), 1)

    points = [(x(start), y(total))] + [(x(day), y(open_)) for day, open_ in sorted(days) if day >= start]
    actual = " ".join(f"{px},{py}" for px, py in points)
    ideal = f"{x(start)},{y(total)} {x(due)},{y(0)}"
    deadline_x = x(due)
    step = _nice_step(top)
    y_ticks = tuple(Tick(LEFT, y(value), str(value)) for value in range(0, top + 1, step))
    every = max(1, span // 6)
    x_ticks = tuple(
        Tick(x(start.fromordinal(start.toordinal() + offset)), HEIGHT - BOTTOM,
             start.fromordinal(start.toordinal() + offset).strftime("%d %b"))
        for offset in range(0, span + 1, every)
    )  # fmt: skip
    remaining = days[-1][1] if days else total
    today_x = x(today) if start <= today <= last else None
    summary = f"{remaining} of {total} items still open on {today:%d %b %Y}; the deadline is {due:%d %b %Y}" + (
        " (passed)" if today > due else ""
    )
    end = Tick(*points[-1], str(remaining)) if points else None
    return Chart(WIDTH, HEIGHT, actual, ideal, today_x, deadline_x, x_ticks, y_ticks, LEFT, WIDTH - RIGHT, TOP,
                 HEIGHT - BOTTOM, summary, end)  # fmt: skip
