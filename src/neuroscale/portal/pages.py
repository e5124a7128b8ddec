"""Server-rendered pages: the endpoint form, pull requests, endpoints and events.

Each handler parses the form or URL, makes one backend call and renders a
template; mutations are POSTs answered with a redirect (post/redirect/get).
Expected refusals (invalid fields, merge while checks fail) re-render the page
with the server's message instead of leaving it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute

from neuroscale.errors import Conflict, Forbidden, InvalidInput, NotFound
from neuroscale.portal.form import defaults, field_errors, submitted, widgets
from neuroscale.portal.http import method_routes
from neuroscale.portal.params import actor, backend, pull_number


def render(request: Request, template: str, context: dict[str, Any], *, status: int = 200) -> Response:
    templates = request.app.state.templates
    response: Response = templates.TemplateResponse(request, template, context, status_code=status)
    return response


def _to_pull(pull: dict[str, Any]) -> Response:
    return RedirectResponse(f"/pulls/{pull['number']}", status_code=303)


#: Refusals a form submission shows on the form itself, keeping the user's input.
FORM_REFUSALS = (InvalidInput, Conflict, NotFound)
#: Refusals of a pull-request action shown on the pull request's page.
PULL_REFUSALS = (Conflict, Forbidden)


def _form(request: Request, *, values: dict[str, str], editing: str | None = None,
          error: InvalidInput | Conflict | NotFound | None = None) -> Response:
    by_field, general = field_errors(error) if error else ({}, [])
    context = {"widgets": widgets(), "values": values, "errors": by_field, "general": general,
               "editing": editing, "nav": "new" if editing is None else "endpoints"}
    return render(request, "form.html", context, status=error.http_status if error else 200)


async def home(request: Request) -> Response:
    return RedirectResponse("/endpoints", status_code=303)


async def new_form(request: Request) -> Response:
    return _form(request, values=defaults())


async def submit_new(request: Request) -> Response:
    values = submitted(await request.form())
    b = backend(request)
    try:
        pull = await b.run(b.create, dict(values), actor=actor(request))
    except FORM_REFUSALS as exc:
        return _form(request, values=values, error=exc)
    return _to_pull(pull)


async def edit_form(request: Request) -> Response:
    b = backend(request)
    name = request.path_params["name"]
    spec = await b.run(b.proposed_spec, name)
    values = {**defaults(), **{key: str(value) for key, value in spec.items()}}
    return _form(request, values=values, editing=name)


async def submit_edit(request: Request) -> Response:
    name = request.path_params["name"]
    values = {**submitted(await request.form()), "name": name}
    b = backend(request)
    try:
        pull = await b.run(b.update, name, dict(values), actor=actor(request))
    except FORM_REFUSALS as exc:
        return _form(request, values=values, editing=name, error=exc)
    return _to_pull(pull)


async def submit_delete(request: Request) -> Response:
    b = backend(request)
    return _to_pull(await b.run(b.delete, request.path_params["name"], actor=actor(request)))


async def endpoints_page(request: Request) -> Response:
    b = backend(request)
    return render(request, "endpoints.html", {"endpoints": await b.run(b.endpoints), "nav": "endpoints"})


async def pulls_page(request: Request) -> Response:
    b = backend(request)
    state = request.query_params.get("state") or None
    pulls = await b.run(b.pulls, state)
    return render(request, "pulls.html", {"pulls": pulls, "state": state, "nav": "pulls"})


async def _pull_page(request: Request, *, error: Conflict | Forbidden | None = None) -> Response:
    b = backend(request)
    pull = await b.run(b.pull, pull_number(request), actor=actor(request))
    context = {"pull": pull, "nav": "pulls", "error": error.to_dict() if error else None}
    return render(request, "pull.html", context, status=error.http_status if error else 200)


async def pull_page(request: Request) -> Response:
    return await _pull_page(request)


async def _pull_action(request: Request, action: Callable[[], Awaitable[dict[str, Any]]]) -> Response:
    """Approve, merge or close, then back to the pull request page (showing why, when refused)."""
    try:
        pull = await action()
    except PULL_REFUSALS as exc:
        return await _pull_page(request, error=exc)
    return _to_pull(pull)


async def submit_approve(request: Request) -> Response:
    b = backend(request)
    head = str((await request.form()).get("head") or "") or None
    return await _pull_action(request, lambda: b.run(b.approve, pull_number(request), actor=actor(request),
                                                     head_sha=head))


async def submit_merge(request: Request) -> Response:
    b = backend(request)
    return await _pull_action(request, lambda: b.run(b.merge, pull_number(request), actor=actor(request)))


async def submit_close(request: Request) -> Response:
    b = backend(request)
    return await _pull_action(request, lambda: b.run(b.close, pull_number(request), actor=actor(request)))


def routes() -> list[BaseRoute]:
    return method_routes([
        ("/", "GET", home),
        ("/new", "GET", new_form),
        ("/new", "POST", submit_new),
        ("/endpoints", "GET", endpoints_page),
        ("/endpoints/{name}/edit", "GET", edit_form),
        ("/endpoints/{name}/edit", "POST", submit_edit),
        ("/endpoints/{name}/delete", "POST", submit_delete),
        ("/pulls", "GET", pulls_page),
        ("/pulls/{number:int}", "GET", pull_page),
        ("/pulls/{number:int}/approve", "POST", submit_approve),
        ("/pulls/{number:int}/merge", "POST", submit_merge),
        ("/pulls/{number:int}/close", "POST", submit_close),
    ])
