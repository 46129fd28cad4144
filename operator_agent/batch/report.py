"""The batch report: JSON for machines and one self-contained HTML page (inline CSS and SVG charts,
no script, no external asset) that a team can mail to its client as it is."""

from __future__ import annotations

import json
import os
from html import escape
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from operator_agent.batch.journal import Journal
from operator_agent.batch.kpis import BatchComparison, BatchKpis, compare_batches
from operator_agent.batch.records import ItemRecord

__all__ = ["BatchReport", "build_report", "render_html", "write_report"]

_COLORS = {
    "completed": "#2e7d32",
    "needs_review": "#f9a825",
    "failed": "#c62828",
    "left": "#90a4ae",
}


class BatchReport(BaseModel):
    """Everything the report shows: KPIs, the comparison, the alerts and the review queue.

    Attributes:
        comparison: The KPIs and their comparison with earlier batches.
        review: The items waiting for a person (key, state, reason).
        shadow: The shadow comparison, for a shadow batch compared with a reference.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    comparison: BatchComparison
    review: list[dict[str, Any]]
    shadow: dict[str, Any] | None = None

    @property
    def kpis(self) -> BatchKpis:
        """The batch's own KPIs."""
        return self.comparison.current


def _review_row(item: ItemRecord) -> dict[str, Any]:
    return {
        "key": item.key,
        "state": item.state,
        "review_reason": item.review_reason,
        "reason": item.reason,
        "attempts": item.attempts,
        "source": item.source,
    }


def build_report(
    journal: Journal,
    batch_id: str,
    *,
    earlier: int = 5,
    alert_below: float = 0.9,
    drift_tolerance: float = 0.1,
    shadow: dict[str, Any] | None = None,
) -> BatchReport:
    """Gather a batch's report (see :func:`~operator_agent.batch.compare_batches` for the alert)."""
    comparison = compare_batches(
        journal, batch_id, earlier=earlier, alert_below=alert_below, drift_tolerance=drift_tolerance
    )
    review = [
        _review_row(i) for i in journal.items(batch_id, states=("failed", "needs_review")) if i.in_review
    ]
    return BatchReport(comparison=comparison, review=review, shadow=shadow)


# -- charts -----------------------------------------------------------------------------------------


def _bar_svg(title: str, bars: list[tuple[str, float, str]], *, unit: str = "", width: int = 460) -> str:
    """Horizontal bars: one row per (label, value, colour)."""
    row_h, label_w = 26, 150
    height = row_h * max(len(bars), 1) + 34
    peak = max((v for _, v, _ in bars), default=0) or 1
    rows = []
    for n, (label, value, color) in enumerate(bars):
        y = 28 + n * row_h
        length = (width - label_w - 70) * value / peak
        shown = f"{value:g}{unit}"
        rows.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{label_w}" y="{y}" width="{length:.1f}" height="{row_h - 8}" fill="{color}"/>'
            f'<text x="{label_w + length + 6:.1f}" y="{y + 14}">{escape(shown)}</text>'
        )
    if not bars:
        rows.append(f'<text x="{label_w}" y="44">none</text>')
    return (
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-size="12" '
        f'font-family="sans-serif"><text x="0" y="16" font-weight="bold">{escape(title)}</text>'
        + "".join(rows)
        + "</svg>"
    )


def _histogram_svg(title: str, values: list[float], *, bins: int = 12, width: int = 460) -> str:
    height, base, left = 190, 160, 36
    if not values:
        return _bar_svg(title, [])
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    counts = [0] * bins
    for value in values:
        counts[min(int((value - low) / span * bins), bins - 1)] += 1
    peak = max(counts) or 1
    bar_w = (width - left - 10) / bins
    bars = []
    for n, count in enumerate(counts):
        h = (base - 30) * count / peak
        x = left + n * bar_w
        bars.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="#1565c0">'
            f"<title>{count} items, {low + n * span / bins:.1f}–{low + (n + 1) * span / bins:.1f} s"
            "</title></rect>"
        )
    axis = (
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#555"/>'
        f'<text x="{left}" y="{base + 16}">{low:.1f} s</text>'
        f'<text x="{width - 10}" y="{base + 16}" text-anchor="end">{high:.1f} s</text>'
        f'<text x="{left - 4}" y="{base - 130}" text-anchor="end">{peak}</text>'
    )
    return (
        f'<svg role="img" aria-label="{escape(title)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg" font-size="12" '
        f'font-family="sans-serif"><text x="0" y="16" font-weight="bold">{escape(title)}</text>'
        + "".join(bars)
        + axis
        + "</svg>"
    )


def _trend_svg(comparison: BatchComparison, *, width: int = 460) -> str:
    series = [*comparison.earlier, comparison.current]
    height, base, left = 200, 160, 40
    step = (width - left - 20) / max(len(series), 1)
    threshold_y = base - 130 * comparison.alert_below
    parts = [
        f'<line x1="{left}" y1="{threshold_y:.1f}" x2="{width - 10}" y2="{threshold_y:.1f}" '
        'stroke="#c62828" stroke-dasharray="4 3"/>',
        f'<text x="{width - 10}" y="{threshold_y - 4:.1f}" text-anchor="end" fill="#c62828">'
        f"alert below {comparison.alert_below:.0%}</text>",
        f'<line x1="{left}" y1="{base}" x2="{width - 10}" y2="{base}" stroke="#555"/>',
        f'<text x="{left - 4}" y="{base - 126}" text-anchor="end">100%</text>',
        f'<text x="{left - 4}" y="{base}" text-anchor="end">0%</text>',
    ]
    for n, kpis in enumerate(series):
        h = 130 * kpis.completion_rate
        x = left + n * step + 4
        color = "#1565c0" if kpis is comparison.current else "#90caf9"
        parts.append(
            f'<rect x="{x:.1f}" y="{base - h:.1f}" width="{max(step - 8, 4):.1f}" height="{h:.1f}" '
            f'fill="{color}">'
            f"<title>{escape(kpis.batch_id)}: {kpis.completion_rate:.1%}</title></rect>"
            f'<text x="{x + (step - 8) / 2:.1f}" y="{base + 16}" text-anchor="middle">'
            f"{escape(kpis.batch_id[-12:])}</text>"
        )
    return (
        f'<svg role="img" aria-label="Completion rate by batch" width="{width}" height="{height + 10}" '
        f'viewBox="0 0 {width} {height + 10}" xmlns="http://www.w3.org/2000/svg" font-size="11" '
        'font-family="sans-serif"><text x="0" y="16" font-weight="bold" font-size="12">'
        "Completion rate by batch</text>" + "".join(parts) + "</svg>"
    )


# -- page -------------------------------------------------------------------------------------------


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _secs(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} s"


def _money(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def render_html(report: BatchReport) -> str:
    """The report as one self-contained HTML page."""
    k = report.kpis
    c = report.comparison
    tiles = [
        ("Items", str(k.items)),
        ("Completed", f"{k.completed} ({_pct(k.completion_rate)})"),
        ("Without a person", _pct(k.straight_through_rate)),
        ("Review rate", _pct(k.review_rate)),
        ("Error rate", _pct(k.error_rate)),
        ("Time per item p50 / p95", f"{_secs(k.time_p50_s)} / {_secs(k.time_p95_s)}"),
        ("Throughput", "–" if k.throughput_per_min is None else f"{k.throughput_per_min:g} items/min"),
        ("Model calls per item", f"{k.model_requests_per_item:g}"),
        ("Tokens per item", f"{k.tokens_per_item:g}"),
        ("Cost per item", _money(k.cost_per_item_usd)),
        (
            "Approvals",
            f"{k.approvals} (wait p50 {_secs(k.approval_wait_p50_s)}, max {_secs(k.approval_wait_max_s)})",
        ),
        ("Retried / recovered", f"{k.retried} / {k.recovered}"),
    ]
    tile_html = "".join(
        f'<div class="tile"><div class="label">{escape(label)}</div>'
        f'<div class="value">{escape(value)}</div></div>'
        for label, value in tiles
    )
    alerts = "".join(f'<p class="alert" role="alert">{escape(a)}</p>' for a in c.alerts) or (
        '<p class="ok">No alert: the completion rate is above the threshold and in line with earlier '
        "batches.</p>"
    )
    states = [
        ("completed", float(k.completed), _COLORS["completed"]),
        ("needs review", float(k.needs_review), _COLORS["needs_review"]),
        ("failed", float(k.failed), _COLORS["failed"]),
        ("not finished", float(k.left), _COLORS["left"]),
    ]
    reasons = [(r.replace("_", " "), float(n), "#6a1b9a") for r, n in sorted(k.review_reasons.items())]
    errors = [(e, float(n), "#c62828") for e, n in sorted(k.errors_by_kind.items(), key=lambda x: -x[1])][:10]
    charts = [
        _bar_svg("Items by outcome", states),
        _histogram_svg("Working time per item", k.work_times_s),
        _bar_svg("Why items went to review", reasons),
        _bar_svg("Errors by kind", errors),
    ]
    if c.earlier:
        charts.append(_trend_svg(c))
    review_rows = (
        "".join(
            f"<tr><td>{escape(r['key'])}</td><td>{escape(r['state'])}</td><td>{escape(r['review_reason'])}</td>"
            f"<td>{escape(r['reason'][:300])}</td></tr>"
            for r in report.review
        )
        or '<tr><td colspan="4">Nothing waits for review.</td></tr>'
    )
    history_rows = "".join(
        f"<tr><td>{escape(b.batch_id)}</td><td>{b.items}</td><td>{_pct(b.completion_rate)}</td>"
        f"<td>{_pct(b.straight_through_rate)}</td><td>{_secs(b.time_p50_s)}</td></tr>"
        for b in [*c.earlier, c.current]
    )
    shadow_html = ""
    if report.shadow is not None:
        s = report.shadow
        mismatch_rows = (
            "".join(
                f"<tr><td>{escape(str(m['key']))}</td><td>"
                f"{escape(json.dumps(m.get('differences', {}), ensure_ascii=False))}"
                "</td></tr>"
                for m in s.get("mismatches", [])
            )
            or '<tr><td colspan="2">Every compared item matches the reference.</td></tr>'
        )
        shadow_html = (
            "<h2>Shadow run against the reference</h2>"
            f"<p>{s.get('matched', 0)} of {s.get('compared', 0)} items match the human results "
            f"({_pct(s.get('agreement_rate'))}); {len(s.get('missing', []))} without a shadow result.</p>"
            f"<table><thead><tr><th>Item</th><th>Differences (field: machine / reference)</th></tr></thead>"
            f"<tbody>{mismatch_rows}</tbody></table>"
        )
    created = f"{k.created_at:%Y-%m-%d %H:%M} UTC"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Batch {escape(k.batch_id)}: report</title>
<style>
body{{font-family:system-ui,sans-serif;margin:2rem;color:#212121;max-width:1000px}}
h1{{margin-bottom:.2rem}} .sub{{color:#616161;margin-top:0}}
.tiles{{display:grid;grid-template-columns:repeat(auto-fill,minmax(210px,1fr));gap:.6rem;margin:1rem 0}}
.tile{{border:1px solid #ddd;border-radius:6px;padding:.6rem}} .label{{color:#616161;font-size:.85rem}}
.value{{font-size:1.15rem;font-weight:600}} .charts{{display:flex;flex-wrap:wrap;gap:1.5rem}}
.alert{{background:#ffebee;border-left:4px solid #c62828;padding:.5rem .8rem}}
.ok{{background:#e8f5e9;border-left:4px solid #2e7d32;padding:.5rem .8rem}}
table{{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}} td,th{{border-bottom:1px solid #eee;
padding:.3rem .5rem;text-align:left;vertical-align:top;font-size:.9rem}}
</style></head><body>
<h1>Batch {escape(k.batch_id)}</h1>
<p class="sub">Task {escape(k.task)} · {escape(k.mode)} run · status {escape(k.status)} ·
created {created}</p>
{alerts}
<div class="tiles">{tile_html}</div>
<div class="charts">{"".join(charts)}</div>
<h2>Compared with earlier batches</h2>
<table><thead><tr><th>Batch</th><th>Items</th><th>Completion</th><th>Without a person</th>
<th>Median time</th></tr></thead><tbody>{history_rows}</tbody></table>
{shadow_html}
<h2>Review queue ({len(report.review)})</h2>
<table><thead><tr><th>Item</th><th>State</th><th>Why</th><th>Details</th></tr></thead><tbody>{review_rows}</tbody></table>
</body></html>
"""


def write_report(
    journal: Journal,
    batch_id: str,
    *,
    folder: str | os.PathLike[str],
    earlier: int = 5,
    alert_below: float = 0.9,
    drift_tolerance: float = 0.1,
    shadow: dict[str, Any] | None = None,
) -> tuple[Path, Path, BatchReport]:
    """Write ``report.json`` and ``report.html`` for a batch into ``folder``.

    Returns:
        The JSON path, the HTML path and the report.
    """
    report = build_report(
        journal,
        batch_id,
        earlier=earlier,
        alert_below=alert_below,
        drift_tolerance=drift_tolerance,
        shadow=shadow,
    )
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    json_path = target / "report.json"
    html_path = target / "report.html"
    payload = {
        "kpis": report.kpis.model_dump(mode="json", exclude={"work_times_s"}),
        "comparison": report.comparison.model_dump(mode="json", exclude={"current"}),
        "alerts": report.comparison.alerts,
        "review": report.review,
        "shadow": report.shadow,
    }
    json_path.write_text(json.dumps(payload, indent=2, ensure_ascii=False), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path, report
