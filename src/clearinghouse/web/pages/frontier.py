"""Frontier review: the calendar of review windows, a model's review (determination, grants, evaluation charts,
findings, milestones) and its final report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from clearinghouse.errors import InvalidRecord, Location
from clearinghouse.frontier import report as final_report
from clearinghouse.frontier.service import FrontierService
from clearinghouse.frontier.views import ModelView, RunView
from clearinghouse.frontier.window import Milestone
from clearinghouse.policy import Actor, pages
from clearinghouse.web.charts import Bar, bar_chart
from clearinghouse.web.session import CheckedForm, CurrentViewer
from clearinghouse.web.templating import PAGE_HEADERS, redirect, render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class CalendarDay:
    on: date
    model_id: str
    model: str
    what: str
    done: bool


def _service(request: Request) -> FrontierService:
    return FrontierService(request.app.state.engine)


def _calendar(service: FrontierService, actor: Actor, models: list[ModelView]) -> list[CalendarDay]:
    days: list[CalendarDay] = []
    for model in models:
        model_id = str(model["id"])
        label = f"{model['name']} {model['version']}"
        for submission in service.submissions(actor, model_id):
            window = submission["window"]
            days.append(CalendarDay(date.fromisoformat(window["opens_on"]), model_id, label, "window opens", True))
            for name, milestone in submission["milestones"].items():
                due = date.fromisoformat(milestone["due_on"])
                done = bool(milestone.get("completed_at"))
                days.append(CalendarDay(due, model_id, label, f"{name.replace('_', ' ')} due", done))
            release = date.fromisoformat(window["partner_release_on"])
            days.append(CalendarDay(release, model_id, label, "partner release", False))
    return sorted(days, key=lambda d: (d.on, d.model, d.what))


@router.get("/frontier")
def calendar(request: Request, current: CurrentViewer) -> Response:
    service = _service(request)
    models = service.models(current.actor)
    days = _calendar(service, current.actor, models)
    months: dict[str, list[CalendarDay]] = {}
    for day in days:
        months.setdefault(day.on.strftime("%B %Y"), []).append(day)
    context = {"models": models, "months": months, "today": service.today()}
    return render(request, current, "frontier.html", context)


def _charts(runs: list[RunView]) -> list[tuple[RunView, Markup]]:
    return [
        (
            run,
            bar_chart(
                f"{run['suite']} ({run['run_id']}): scores with 95% confidence intervals",
                [
                    Bar(name, metric["value"], metric["ci_low"], metric["ci_high"])
                    for name, metric in sorted(run["metrics"].items())
                ],
                chart_id=f"run-{index}",
            ),
        )
        for index, run in enumerate(runs)
    ]


@router.get("/frontier/models/{model_id}")
def model_page(request: Request, current: CurrentViewer, model_id: str) -> Response:
    service = _service(request)
    data = service.report_data(current.actor, model_id)
    context = {
        "data": data,
        "charts": _charts(data["evaluation_runs"]),
        "grants": service.grants(current.actor, model_id),
        "milestones": list(Milestone),
        "may_evaluate": pages.may_evaluate_models(current.actor),
    }
    return render(request, current, "model.html", context)


@router.get("/frontier/models/{model_id}/report")
def model_report(request: Request, current: CurrentViewer, model_id: str) -> Response:
    """The final review report (the same document as the API's HTML report), as the viewer may see it."""
    data = _service(request).report_data(current.actor, model_id)
    # The report document carries its own inline styles; it is otherwise held to the pages' rules.
    headers = PAGE_HEADERS | {
        "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
    }
    return HTMLResponse(final_report.render_html(data), headers=headers)


@router.post("/frontier/submissions/{submission_id}/milestones")
async def complete_milestone(
    request: Request, current: CurrentViewer, form: CheckedForm, submission_id: str
) -> Response:
    try:
        milestone = Milestone(form.required("milestone", "the milestone"))
    except ValueError:
        raise InvalidRecord("unknown milestone", Location(field="milestone")) from None
    note = form.required("note", "a note")
    service = _service(request)
    submission = await run_in_threadpool(service.complete_milestone, current.actor, submission_id, milestone, note)
    return redirect(f"/frontier/models/{submission['model_id']}")
