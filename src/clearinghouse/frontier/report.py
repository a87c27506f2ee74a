"""The final review report: HTML from a Jinja2 template in the package, PDF with fpdf2 (pure Python)."""

from __future__ import annotations

from typing import Any

from fpdf import FPDF
from jinja2 import Environment, PackageLoader, select_autoescape

_ENVIRONMENT = Environment(
    loader=PackageLoader("clearinghouse.frontier", "templates"),
    autoescape=select_autoescape(["html", "j2"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def render_html(data: dict[str, Any]) -> str:
    return _ENVIRONMENT.get_template("final_report.html.j2").render(**data)


def _latin1(text: object) -> str:
    # fpdf2's built-in fonts cover Latin-1 only; embedding a Unicode font would mean shipping one.
    return str(text).encode("latin-1", "replace").decode("latin-1")


class _ReportPdf(FPDF):
    def heading(self, text: str) -> None:
        self.set_font("Helvetica", "B", 13)
        self.ln(3)
        self.multi_cell(0, 7, _latin1(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)

    def line_of_text(self, text: object) -> None:
        self.multi_cell(0, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")


def render_pdf(data: dict[str, Any]) -> bytes:
    model = data["model"]
    pdf = _ReportPdf()
    pdf.set_title(_latin1(f"Pre-release review: {model['name']} {model['version']}"))
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(
        0, 9, _latin1(f"Pre-release review: {model['name']} {model['version']}"), new_x="LMARGIN", new_y="NEXT"
    )
    pdf.set_font("Helvetica", "", 9)
    pdf.line_of_text(
        f"Developer: {model['developer']}; modality: {model['modality']}; training compute: "
        f"{model['training_compute_flop']} FLOP; planned partner release: {model['planned_partner_release']}"
    )
    pdf.line_of_text("Voluntary review: it schedules, records and reports; it never licenses or blocks a release.")
    _determination_section(pdf, data.get("determination"))
    _runs_section(pdf, data["evaluation_runs"])
    _findings_section(pdf, data["findings"])
    _window_section(pdf, data["submissions"])
    pdf.heading("Timeline")
    for entry in data["timeline"]:
        pdf.line_of_text(f"{entry['at']}  {entry['actor']}  {entry['action']}")
    pdf.line_of_text(f"Generated {data['generated_at']}.")
    return bytes(pdf.output())


def _determination_section(pdf: _ReportPdf, determination: dict[str, Any] | None) -> None:
    pdf.heading("Determination")
    if determination is None:
        pdf.line_of_text("No determination recorded.")
        return
    pdf.line_of_text(
        f"{determination['coverage']} under criteria {determination['criteria']} ({determination['basis']}; "
        f"decided by {determination['decided_by']} at {determination['decided_at']})"
    )
    for result in determination["results"]:
        pdf.line_of_text(f"- {result['name']} ({result['kind']}): {result['outcome']}: {result['reason']}")


def _runs_section(pdf: _ReportPdf, runs: list[dict[str, Any]]) -> None:
    pdf.heading("Evaluation results")
    if not runs:
        pdf.line_of_text("No evaluation runs recorded.")
    for run in runs:
        for name, metric in run["metrics"].items():
            interval = f" (95% CI {metric['ci_low']} to {metric['ci_high']})" if metric["ci_low"] is not None else ""
            pdf.line_of_text(f"- {run['suite']} run {run['run_id']}: {name} = {metric['value']}{interval}")


def _findings_section(pdf: _ReportPdf, findings: list[dict[str, Any]]) -> None:
    pdf.heading("Findings")
    if not findings:
        pdf.line_of_text("No findings recorded.")
    for finding in findings:
        pdf.line_of_text(f"- [{finding['severity']}] {finding['capability_area']}: {finding['title']}")
        pdf.line_of_text(f"  {finding['description']}")


def _window_section(pdf: _ReportPdf, submissions: list[dict[str, Any]]) -> None:
    pdf.heading("Review window")
    if not submissions:
        pdf.line_of_text("No access was offered.")
    for submission in submissions:
        window = submission["window"]
        pdf.line_of_text(
            f"Submission {submission['id']}: {submission['state']}; access {window['opens_on']} until the partner "
            f"release on {window['partner_release_on']} ({window['days']} of at most {window['max_days']} days)"
        )
        for change in submission["plan_changes"]:
            pdf.line_of_text(
                f"  plan change {change['on']}: release {change['partner_release_from']} -> "
                f"{change['partner_release_to']}, window shrank by {change['window_shrank_by_days']} days: "
                f"{change['reason']}"
            )
