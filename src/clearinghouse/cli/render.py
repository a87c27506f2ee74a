"""Readable terminal views of records, query results and statistics."""

from __future__ import annotations

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from clearinghouse.intake.metrics import ProcessingStats
from clearinghouse.records.model import VulnerabilityRecord
from clearinghouse.store.records import Stats


def console(stderr: bool = False) -> Console:
    """A console for the CLI's output. Messages name files, fields and ids: the terminal may wrap them, Rich must
    not break them (it does at 80 columns whenever output goes to a pipe)."""
    return Console(stderr=stderr, soft_wrap=True)


def severity_text(record: VulnerabilityRecord) -> str:
    if not record.scores:
        return "-"
    best = max(record.scores, key=lambda s: s.base_score)
    return f"{best.base_score:.1f} {best.rating} (CVSS {best.version})"


def record_panel(record: VulnerabilityRecord, group: list[VulnerabilityRecord]) -> Panel:
    osv = record.osv
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Aliases", ", ".join(osv.aliases or ()) or "-")
    others = [r.id for r in group if r.id != record.id]
    facts.add_row("Same vulnerability", ", ".join(others) or "-")
    facts.add_row("Severity", severity_text(record))
    for score in record.scores:
        facts.add_row("", f"{score.vector}  → {score.base_score:.1f}")
    facts.add_row("Known exploited", "YES (CISA KEV)" if record.known_exploited else "no")
    facts.add_row("Published", osv.published or "-")
    facts.add_row("Modified", osv.modified)
    if osv.withdrawn:
        facts.add_row("Withdrawn", Text(osv.withdrawn, style="red"))
    facts.add_row("Status / TLP", f"{record.status.value} / TLP:{record.tlp.value}")
    source = record.provenance
    facts.add_row("Source", f"{source.source} ({source.licence or 'licence unknown'})")
    for repair in record.repairs:
        facts.add_row("Repaired on import", Text(repair, style="yellow"))

    packages = Table("Ecosystem", "Package", "Affected", "Fixed", box=None, header_style="bold")
    for affected in osv.affected or ():
        if affected.package is None:
            continue
        spans, fixed = [], []
        for version_range in affected.ranges or ():
            events = [f"{e.kind} {e.value}" for e in version_range.events]
            spans.append(f"{version_range.type.value}: " + ", ".join(events))
            fixed += [e.value for e in version_range.events if e.kind == "fixed"]
        if affected.versions:
            spans.append(f"{len(affected.versions)} listed versions")
        packages.add_row(affected.package.ecosystem, affected.package.name, "\n".join(spans), ", ".join(fixed))

    references = "\n".join(f"[{r.type.value}] {r.url}" for r in (osv.references or ())[:10])
    body = Group(
        Text(osv.summary or "", style="bold"),
        Text((osv.details or "")[:1500]),
        Text(""),
        facts,
        Text(""),
        packages,
        Text(""),
        Text(references),
    )
    return Panel(body, title=osv.id, title_align="left")


def records_table(found: list[VulnerabilityRecord], title: str) -> Table:
    table = Table(title=title, header_style="bold")
    for column in ("Id", "Aliases", "Severity", "KEV", "Summary"):
        table.add_column(column)
    for record in found:
        table.add_row(
            record.id,
            ", ".join((record.osv.aliases or ())[:3]),
            severity_text(record),
            "yes" if record.known_exploited else "",
            (record.osv.summary or record.osv.details or "")[:80],
        )
    return table


def print_processing(console: Console, stats: ProcessingStats) -> None:
    """The intake pipeline's backlog and per-step timings (issue 16; the same figures as `/metrics`)."""
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("Reports waiting to be processed", f"{stats.queued:,}")
    summary.add_row("Oldest waiting for", f"{stats.oldest_age_seconds:,.1f} s")
    console.print(summary)
    if not stats.steps:
        return
    table = Table(title="Intake pipeline steps", header_style="bold")
    for heading in ("Step", "Reports", "Failed", "Mean ms", "Total s"):
        table.add_column(heading, justify="left" if heading == "Step" else "right")
    for step in stats.steps:
        mean = "-" if step.mean_ms is None else f"{step.mean_ms:.2f}"
        table.add_row(step.step, f"{step.runs:,}", f"{step.failures:,}", mean, f"{step.seconds:,.1f}")
    console.print(table)


def print_stats(console: Console, stats: Stats) -> None:
    summary = Table.grid(padding=(0, 2))
    summary.add_column(style="bold")
    summary.add_column(justify="right")
    summary.add_row("Records", f"{stats.records:,}")
    summary.add_row("Vulnerabilities (alias groups)", f"{stats.vulnerabilities:,}")
    summary.add_row("Withdrawn", f"{stats.withdrawn:,}")
    summary.add_row("With a CVSS vector", f"{stats.with_cvss:,}")
    summary.add_row("Known exploited (KEV)", f"{stats.known_exploited:,}")
    summary.add_row("KEV catalog entries", f"{stats.kev_entries:,}")
    console.print(summary)
    for title, counts in (("By source", stats.by_source), ("By ecosystem", stats.by_ecosystem)):
        table = Table(title=title, header_style="bold")
        table.add_column(title.removeprefix("By ").capitalize())
        table.add_column("Records", justify="right")
        for key, value in counts.items():
            table.add_row(key, f"{value:,}")
        console.print(table)
