"""Who may do what: every page route (walked from Django's URL resolver), every API operation (read from the
OpenAPI schema) and the gateway's routes, for every role, on the person's own project and on another one.

A route or operation with no rule below fails: add its rule to PAGE_RULES, API_RULES or GATEWAY_RULES.

Pages, each method the rule lists (the other one answers 405), for anonymous, viewer, engineer, owner, admin, an
outsider (admin of a third project) and staff, on: their own project ("own"), another project's URL ("other"),
another project's object behind their own project's URL ("cross") and their own URL with a form naming another
project's object ("body"). Anonymous -> a redirect to the login page; a member whose role may not -> 403; a
non-member, another project's page or object -> 404: another project's things are not found, rather than
forbidden (a role that may not, on another project's object, gets either, by which is checked first). Allowed:
a GET answers 200; a POST (sent empty, or with the ids it needs) may answer 2xx, 3xx, 400, 409 or 422, never
401, 403, 404, 405 or a 5xx: the matrix is about who gets in, not about the form.

API (authentication is a project API key only, `Authorization: Bearer ds_...`; a session is not accepted): no
key, a session or a revoked key -> 401; a key without the operation's scope -> 403; another project's object,
in the path or the body -> 404 (a list filtered by one: 200 with none of it, or 404). Allowed: a GET answers 200;
a write may answer 2xx or a 4xx about its minimal input (400, 409, 422), never 401, 403, 404 or a 5xx.

The gateway: the same keys; only the gateway scope gets in, and a key reaches its own project's upstreams only.

Every answer, refused ones too, is searched for the other project's ids, URLs and markers: none may show."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from django.db import transaction
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from apps.projects.models import ApiKeyScope
from apps.serving.gateway import state
from controlplane.api import api
from tests.architecture.authorisation_world import KEY_ROLES, PEOPLE, World, build_world

pytestmark = pytest.mark.django_db

ANYONE = frozenset({"anonymous", *PEOPLE})
SIGNED_IN = frozenset(PEOPLE)
VIEW = frozenset({"viewer", "engineer", "owner", "admin"})
ENGINEER = frozenset({"engineer", "owner", "admin"})  # upload, API keys, tasks, datasets, training, evaluation
OWNER = frozenset({"owner", "admin"})  # curation policy, approvals, deployments
ADMIN = frozenset({"admin"})  # members, settings
STAFF = frozenset({"staff"})  # GPU workers belong to the installation
NOBODY: frozenset[str] = frozenset()  # by role: /metrics answers its networks or its token (METRICS_ALLOW_NETWORKS)
SUPERUSER = NOBODY  # creating a project: superusers only, and no role in the matrix is one

PAGE_RULES: dict[str, dict[str, frozenset[str]]] = {
    "healthz": {"GET": ANYONE, "POST": ANYONE},
    "metrics": {"GET": NOBODY},
    "login": {"GET": ANYONE, "POST": ANYONE},
    "logout": {"POST": ANYONE},
    "projects:list": {"GET": SIGNED_IN},
    "projects:create": {"POST": SUPERUSER},
    "projects:password_change": {"GET": SIGNED_IN, "POST": SIGNED_IN},
    "projects:keys": {"GET": ENGINEER, "POST": ENGINEER},
    "projects:key_revoke": {"POST": ENGINEER},
    "projects:members": {"GET": VIEW, "POST": ADMIN},
    "projects:settings": {"GET": VIEW, "POST": ADMIN},
    "projects:member_role": {"POST": ADMIN},
    "projects:member_remove": {"POST": ADMIN},
    "monitoring:home": {"GET": VIEW},
    "monitoring:offload": {"GET": VIEW},
    "calls:dashboard": {"GET": VIEW},
    "calls:list": {"GET": VIEW},
    "calls:detail": {"GET": VIEW},
    "calls:raw": {"GET": VIEW},
    "calls:uploads": {"GET": ENGINEER, "POST": ENGINEER},
    "calls:upload_detail": {"GET": ENGINEER},
    "calls:upload_cancel": {"POST": ENGINEER},
    "curation:report": {"GET": VIEW},
    "curation:policy": {"GET": OWNER, "POST": OWNER},
    "curation:policy_preview": {"POST": OWNER},
    "curation:rescan_start": {"POST": OWNER},
    "curation:rescan_detail": {"GET": VIEW},
    "curation:rescan_cancel": {"POST": OWNER},
    "jobs:list": {"GET": VIEW},
    "discovery:tasks": {"GET": VIEW},
    "discovery:run_start": {"POST": ENGINEER},
    "discovery:map": {"GET": VIEW},
    "discovery:runs": {"GET": VIEW},
    "discovery:run": {"GET": VIEW},
    "discovery:run_cancel": {"POST": ENGINEER},
    "discovery:task": {"GET": VIEW, "POST": ENGINEER},
    "discovery:task_merge": {"POST": ENGINEER},
    "discovery:task_split": {"POST": ENGINEER},
    "discovery:task_keep": {"POST": ENGINEER},
    "evaluation:report": {"GET": VIEW},
    "evaluation:start": {"POST": ENGINEER},
    "evaluation:scoring": {"POST": ENGINEER},
    "evaluation:cancel": {"POST": ENGINEER},
    "serving:deployment": {"GET": VIEW},
    "serving:start": {"POST": OWNER},
    "serving:change": {"POST": OWNER},
    "serving:stop": {"POST": OWNER},
    "serving:reenable": {"POST": OWNER},
    "serving:rollback": {"POST": OWNER},
    "serving:retrain": {"GET": VIEW},
    "serving:retrain_start": {"POST": OWNER},
    "serving:retrain_dismiss": {"POST": OWNER},
    "approvals:audit": {"GET": VIEW},
    "approvals:decide": {"POST": OWNER},  # posted as an approval; engineers may only request one
    "specialists:candidates": {"GET": VIEW},
    "specialists:dataset_create": {"POST": ENGINEER},
    "specialists:dataset": {"GET": VIEW},
    "specialists:dataset_file": {"GET": VIEW},
    "specialists:dataset_train": {"GET": VIEW, "POST": ENGINEER},
    "specialists:training_run": {"GET": VIEW},
    "specialists:training_run_cancel": {"POST": ENGINEER},
    "fleet:list": {"GET": STAFF},
    "fleet:drain": {"POST": STAFF},
    "fleet:resume": {"POST": STAFF},
    "fleet:concurrency": {"POST": STAFF},
    "fleet:cancel_job": {"POST": STAFF},
}
PUBLIC_PAGES = {"healthz", "metrics", "login", "logout"}  # no login asked
GET_REDIRECTS = {"monitoring:home"}  # to the offload page once the project has a deployment (the world's has)

# The scope each operation needs. "admin*": the admin scope on a key a site administrator (staff) created.
API_RULES: dict[str, str | frozenset[str]] = {
    "create_calls": ApiKeyScope.INGEST,
    "list_calls": ApiKeyScope.READ,
    "get_call": ApiKeyScope.READ,
    "get_curation_policy": ApiKeyScope.READ,
    "get_curation_report": ApiKeyScope.READ,
    "create_rescan": ApiKeyScope.DISCOVER,
    "get_rescan": ApiKeyScope.READ,
    "create_discovery_run": ApiKeyScope.DISCOVER,
    "get_discovery_run": ApiKeyScope.READ,
    "list_clusters": ApiKeyScope.READ,
    "get_cluster": ApiKeyScope.READ,
    "list_models": ApiKeyScope.READ,
    "list_candidates": ApiKeyScope.READ,
    "create_dataset": ApiKeyScope.DISCOVER,
    "get_dataset": ApiKeyScope.READ,
    "create_training_run": ApiKeyScope.DISCOVER,
    "get_training_run": ApiKeyScope.READ,
    "create_endpoint": ApiKeyScope.DISCOVER,
    "list_endpoints": ApiKeyScope.READ,
    "get_task_scoring": ApiKeyScope.READ,
    "set_task_scoring": ApiKeyScope.DISCOVER,
    "create_evaluation": ApiKeyScope.DISCOVER,
    "list_evaluations": ApiKeyScope.READ,
    "get_evaluation": ApiKeyScope.READ,
    "cancel_evaluation": ApiKeyScope.DISCOVER,
    "list_evaluation_results": ApiKeyScope.READ,
    "create_approval": ApiKeyScope.APPROVE,  # posted as an approval; a request needs only "discover"
    "list_approvals": ApiKeyScope.READ,
    "list_workers": "admin*",
    "create_deployment": ApiKeyScope.APPROVE,
    "list_deployments": ApiKeyScope.READ,
    "update_deployment": ApiKeyScope.APPROVE,
    "stop_deployment": ApiKeyScope.APPROVE,
    "rollback_deployment": ApiKeyScope.APPROVE,
    "reenable_deployment": ApiKeyScope.APPROVE,
    "list_events": ApiKeyScope.READ,
    "list_retrain_proposals": ApiKeyScope.READ,
    "get_retrain_proposal": ApiKeyScope.READ,
    "start_retrain_proposal": frozenset({ApiKeyScope.APPROVE, ApiKeyScope.DISCOVER}),  # it trains, then asks
    "dismiss_retrain_proposal": ApiKeyScope.APPROVE,
    "get_offload": ApiKeyScope.READ,
}

# The gateway (key-authenticated, OpenAI's API): route name -> (method, scope).
GATEWAY_RULES: dict[str, tuple[str, str]] = {
    "gateway-chat-completions": ("POST", ApiKeyScope.GATEWAY),
    "gateway-models": ("GET", ApiKeyScope.GATEWAY),
}

# The world object that fills each URL or path parameter; (namespace or API collection, parameter) first.
PARAMETERS: dict[tuple[str, str] | str, str] = {
    ("calls", "job_id"): "import_job",
    ("curation", "job_id"): "rescan",
    ("rescans", "job_id"): "rescan",
    ("discovery", "run_id"): "discovery_run",
    ("discovery-runs", "run_id"): "discovery_run",
    ("specialists", "run_id"): "training_run",
    ("training-runs", "run_id"): "training_run",
    "call_id": "call",
    "cluster_id": "cluster",
    "dataset_id": "dataset",
    "evaluation_id": "evaluation",
    "deployment_id": "deployment",
    "proposal_id": "proposal",
    "key_id": "key",
    "username": "member",
}
LITERAL_PARAMETERS = {"split": "train"}
# Forms that name an object in their body, filled with the own project's objects (or, target "body", the other's).
PAGE_BODIES: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "approvals:decide": lambda o: {
        "evaluation": o["evaluation"],
        "decision": "approve",
        "comment": "Good enough.",
        "rollout_shadow": "on",
    },
    "evaluation:start": lambda o: {"candidate": f"endpoint:{o['endpoint']}", "again": "on"},
    "evaluation:scoring": lambda o: {"text_metric": "judge", "judge_endpoint": o["endpoint"]},
    "discovery:task_merge": lambda o: {"into": o["cluster"]},
}
ALLOWED_ANSWERS_TO_A_WRITE = {200, 201, 202, 204, 302, 303, 400, 409, 422}
EXCLUDED_PREFIXES = ("admin/", "api/", "v1/")  # Django admin; the API and the gateway have tables of their own


@pytest.fixture(scope="module")
def world(django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Built once for the module, in a transaction rolled back at its end; each test runs in a savepoint."""
    with django_db_blocker.unblock(), transaction.atomic():
        yield build_world(tmp_path_factory.mktemp("authorisation"))
        transaction.set_rollback(True)


# --- the routes -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    namespace: str
    parameters: tuple[str, ...]
    prefix: str


def _walk(
    patterns: list[Any], prefix: str = "", namespace: str = "", parameters: tuple[str, ...] = ()
) -> Iterator[Route]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        names = parameters + tuple(getattr(entry.pattern, "converters", {}))
        if isinstance(entry, URLResolver):
            inner = ":".join(filter(None, [namespace, entry.namespace or ""]))
            yield from _walk(entry.url_patterns, route, inner, names)
        elif isinstance(entry, URLPattern):
            name = ":".join(filter(None, [namespace, entry.name or ""])) if entry.name else f"<unnamed {route}>"
            yield Route(name=name, namespace=namespace, parameters=names, prefix=route)


def page_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns) if not r.prefix.startswith(EXCLUDED_PREFIXES)]


def gateway_routes() -> list[Route]:
    return [r for r in _walk(get_resolver().url_patterns) if r.prefix.startswith("v1/")]


def operations() -> list[tuple[str, str, str]]:
    """(method, path, operation id) of every operation in the OpenAPI schema."""
    schema = api.get_openapi_schema()
    return [(m.upper(), p, op["operationId"]) for p, ops in schema["paths"].items() for m, op in ops.items()]


def _object(world: World, side: str, collection: str, parameter: str) -> str:
    key = PARAMETERS.get((collection, parameter)) or PARAMETERS.get(parameter)
    assert key is not None, f"No world object fills '{parameter}' ({collection}): add it to PARAMETERS"
    return world.side(side).objects[key]


def test_every_page_route_has_a_rule() -> None:
    missing = sorted({r.name for r in page_routes()} - set(PAGE_RULES))
    assert not missing, f"Routes with no authorisation rule: {missing}. Add each to PAGE_RULES in {__file__}."
    stale = sorted(set(PAGE_RULES) - {r.name for r in page_routes()})
    assert not stale, f"Rules for routes that no longer exist: {stale}"


def test_every_api_operation_has_a_rule() -> None:
    missing = sorted({op for _, _, op in operations()} - set(API_RULES))
    assert not missing, f"Operations with no authorisation rule: {missing}. Add each to API_RULES in {__file__}."
    assert not set(API_RULES) - {op for _, _, op in operations()}, "Rules for operations that no longer exist"


def test_every_gateway_route_has_a_rule() -> None:
    missing = sorted({r.name for r in gateway_routes()} - set(GATEWAY_RULES))
    assert not missing, f"Gateway routes with no rule: {missing}. Add each to GATEWAY_RULES in {__file__}."


# --- one cell -------------------------------------------------------------------------------------------


@contextmanager
def cell() -> Iterator[None]:
    """One request's writes are rolled back before the next cell asks."""
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


def _body(response: HttpResponse) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)  # type: ignore[attr-defined]
    return response.content


def leaked(world: World, side: str, response: HttpResponse) -> list[str]:
    """The other project's ids, URLs and markers that an answer shows."""
    body = _body(response).decode(errors="replace")
    return [marker for marker in world.side(side).markers() if marker in body]


def _to_login(response: HttpResponse) -> bool:
    return response.status_code == 302 and response["Location"].startswith(reverse("login"))


# --- pages ------------------------------------------------------------------------------------------------


def _page_cases() -> Iterator[Any]:
    for route in page_routes():
        methods = PAGE_RULES.get(route.name) or {"GET": NOBODY, "POST": NOBODY}
        for method in ("GET", "POST"):
            if method in methods:
                yield pytest.param(route, method, id=f"{route.name}-{method}")


def _targets(route: Route, method: str) -> tuple[str, ...]:
    """own: one's own project; other: another project's URL; cross: another project's object behind one's own
    project's URL; body: one's own URL with a form naming another project's object. "-": a route of no project."""
    body = ("body",) if method == "POST" and route.name in PAGE_BODIES else ()
    if any(p not in ("slug", "name", *LITERAL_PARAMETERS) for p in route.parameters):
        return ("own", "other", "cross", *body)
    return ("own", "other", *body) if "slug" in route.parameters else ("-",)


def _page_url(world: World, route: Route, target: str) -> str:
    kwargs: dict[str, str] = {}
    for parameter in route.parameters:
        if parameter == "slug":
            kwargs[parameter] = world.side(target).project.slug
        elif parameter == "name":
            kwargs[parameter] = world.worker
        elif parameter in LITERAL_PARAMETERS:
            kwargs[parameter] = LITERAL_PARAMETERS[parameter]
        else:
            kwargs[parameter] = _object(
                world, "other" if target in ("other", "cross") else "own", route.namespace, parameter
            )
    return reverse(route.name, kwargs=kwargs)


def _page_data(world: World, route: Route, target: str) -> dict[str, str]:
    form = PAGE_BODIES.get(route.name)
    return form(world.side("own" if target == "own" else "other").objects) if form else {}


def expected_page(route: Route, method: str, role: str, target: str) -> str:
    """ "login", "allowed", or the statuses that may answer ("403/404": a role that may not, on another project's
    object: either the role or the object is refused first)."""
    may = PAGE_RULES[route.name][method]
    if role == "anonymous" and route.name not in PUBLIC_PAGES:
        return "login"
    if target == "-":
        return "allowed" if role in may else "403"
    if role in ("outsider", "staff") or target == "other":
        return "404"
    if role not in may:
        return "403/404" if target in ("cross", "body") else "403"
    return {"cross": "404", "body": "400/404"}.get(target, "allowed")


def _page_verdict(world: World, route: Route, method: str, expected: str, response: HttpResponse) -> str:
    """ "" when the answer is the one expected, else what is wrong with it."""
    status = response.status_code
    if expected == "login":
        return "" if _to_login(response) else f"{status}, expected a redirect to the login page"
    if expected != "allowed":
        if status not in {int(code) for code in expected.split("/")}:
            return f"{status}, expected {expected}"
    elif method == "GET":
        wanted = 302 if route.name in GET_REDIRECTS else 200
        if status != wanted or (status == 302 and _to_login(response)):
            return f"{status}, expected {wanted}"
    elif status not in ALLOWED_ANSWERS_TO_A_WRITE or (_to_login(response) and route.name not in PUBLIC_PAGES):
        return f"{status}, expected an answer to an allowed request"
    shown = leaked(world, "other", response)
    return f"{status} showing the other project's {shown}" if shown else ""


@pytest.mark.parametrize(("route", "method"), list(_page_cases()))
def test_page(world: World, route: Route, method: str) -> None:
    """Every role on every target, each cell a request of its own, rolled back after."""
    assert route.name in PAGE_RULES, f"{route.name} has no authorisation rule: add it to PAGE_RULES in {__file__}"
    wrong = []
    for role in ("anonymous", *PEOPLE):
        for target in _targets(route, method):
            url = _page_url(world, route, target)
            with cell():
                client = world.client(role)
                response = client.get(url) if method == "GET" else client.post(url, _page_data(world, route, target))
                expected = expected_page(route, method, role, target)
                if problem := _page_verdict(world, route, method, expected, response):
                    wrong.append(f"{method} {url} as {role} ({target}): {problem}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    "route", [pytest.param(r, id=r.name) for r in page_routes() if len(PAGE_RULES.get(r.name, {})) == 1]
)
def test_page_refuses_the_method_its_rule_does_not_list(world: World, route: Route) -> None:
    method = "POST" if "GET" in PAGE_RULES[route.name] else "GET"
    url = _page_url(world, route, "own" if _targets(route, method) != ("-",) else "-")
    client = world.client("staff" if route.namespace == "fleet" else "admin")
    response = client.get(url) if method == "GET" else client.post(url)
    assert response.status_code == 405, f"{method} {url}: {response.status_code}; add {method} to its rule?"


# --- the API ----------------------------------------------------------------------------------------------

API_ROLES = ("none", "session", *KEY_ROLES, "other-project")
BODY_NAMES_AN_OBJECT = {
    "create_dataset",
    "create_training_run",
    "create_evaluation",
    "create_approval",
    "create_deployment",
}


def _api_bodies(side: dict[str, str]) -> dict[str, Any]:
    return {
        "create_calls": [],
        "create_discovery_run": {},
        "create_dataset": {"cluster": side["cluster"], "kind": "classifier"},
        "create_training_run": {"dataset": side["dataset"]},
        "create_endpoint": {"name": "another", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        "set_task_scoring": {},
        "create_evaluation": {"cluster": side["cluster"], "candidate": {"endpoint": side["endpoint"]}},
        "create_approval": {"evaluation": side["evaluation"], "decision": "approve", "comment": "Good enough."},
        "create_deployment": {"approval": side["approval"]},
        "update_deployment": {},
        "rollback_deployment": {},
    }


# Lists filtered by an object: filtered by another project's, they find nothing (200, empty) or answer 404.
API_QUERIES: dict[str, Callable[[dict[str, str]], dict[str, str]]] = {
    "list_calls": lambda o: {"cluster": o["cluster"]},
    "list_approvals": lambda o: {"cluster": o["cluster"], "evaluation": o["evaluation"]},
    "list_evaluations": lambda o: {"cluster": o["cluster"]},
    "list_events": lambda o: {"task": o["cluster"]},
    "list_retrain_proposals": lambda o: {"task": o["cluster"]},
}


def _api_cases() -> Iterator[Any]:
    for method, path, operation in operations():
        yield pytest.param(method, path, operation, id=operation)


def _api_targets(path: str, operation: str) -> tuple[str, ...]:
    """own / other: the objects the path or body names; "-": it names none (the key's project is the one)."""
    names = "{" in path or operation in BODY_NAMES_AN_OBJECT or operation in API_QUERIES
    return ("own", "other") if names else ("-",)


def _scopes(role: str) -> set[str]:
    return set(ApiKeyScope.values) if role in ("all", "other-project") else {role}


def expected_api(path: str, operation: str, role: str, target: str) -> str:
    """ "401", "403", "404" or "allowed"."""
    needs = API_RULES[operation]
    if role in ("none", "session", "revoked"):
        return "401"
    if needs == "admin*":
        return "allowed" if role == ApiKeyScope.ADMIN else "403"
    foreign = "own" if role == "other-project" else "other"
    needed = needs if isinstance(needs, frozenset) else {needs}
    if not needed & _scopes(role):
        return "403"
    if not needed <= _scopes(role):  # one of two scopes: the second may be asked once the object is found
        return "403/404" if target == foreign else "403"
    if target == foreign:
        return "200/404" if operation in API_QUERIES and "{" not in path else "404"
    return "allowed"


def _api_request(world: World, method: str, path: str, operation: str, role: str, target: str) -> HttpResponse:
    headers = {}
    if role == "other-project":
        headers["Authorization"] = f"Bearer {world.other.keys['all']}"
    elif role in world.own.keys:
        headers["Authorization"] = f"Bearer {world.own.keys[role]}"
    client = world.client("admin" if role == "session" else "anonymous")
    side = "other" if target == "other" else "own"
    url = path
    for parameter in [p.strip("{}") for p in path.split("/") if p.startswith("{")]:
        url = url.replace("{" + parameter + "}", _object(world, side, path.split("/")[3], parameter))
    body = _api_bodies(world.side(side).objects).get(operation)
    send = getattr(client, method.lower())
    if method == "GET" or body is None:
        query = API_QUERIES[operation](world.side(side).objects) if operation in API_QUERIES else {}
        return send(url, query, headers=headers)
    return send(url, orjson.dumps(body), content_type="application/json", headers=headers)


@pytest.mark.parametrize(("method", "path", "operation"), list(_api_cases()))
def test_api(world: World, method: str, path: str, operation: str) -> None:
    """Every key (and no key, a session, a revoked key) on the own and the other project's objects."""
    assert operation in API_RULES, f"{operation} has no authorisation rule: add it to API_RULES in {__file__}"
    wrong = []
    for role in API_ROLES:
        for target in _api_targets(path, operation):
            with cell():
                response = _api_request(world, method, path, operation, role, target)
            status, expected = response.status_code, expected_api(path, operation, role, target)
            where = f"{method} {path} ({target}) with {role}"
            if expected != "allowed":
                fine = status in {int(code) for code in expected.split("/")}
            else:
                fine = status == 200 if method == "GET" else status in ALLOWED_ANSWERS_TO_A_WRITE
            if not fine:
                wrong.append(f"{where}: {status}, expected {expected}: {response.content[:200]!r}")
            elif shown := leaked(world, "own" if role == "other-project" else "other", response):
                wrong.append(f"{where}: {status} showing the other project's {shown}")
    assert not wrong, "\n".join(wrong)


# --- the gateway ------------------------------------------------------------------------------------------


@pytest.fixture
def gateway_loads_keep_the_connection(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The gateway closes its loads' database connection (under ASGI each runs in a thread of its own); under
    the test client the load runs in this thread, whose connection holds the module's transaction. Its cache
    starts and ends empty: the world's keys are rolled back with the module."""
    monkeypatch.setattr(state, "connections", SimpleNamespace(close_all=lambda: None))
    state.cache().invalidate()
    yield
    state.cache().invalidate()


@pytest.mark.parametrize("route", [pytest.param(r, id=r.name) for r in gateway_routes()])
@pytest.mark.usefixtures("gateway_loads_keep_the_connection")
def test_gateway(world: World, route: Route) -> None:
    """A key reaches its own project's upstreams only: /v1/models lists them, and a chat completion asking for
    the other project's model is not found."""
    assert route.name in GATEWAY_RULES, f"{route.name} has no rule: add it to GATEWAY_RULES in {__file__}"
    method, scope = GATEWAY_RULES[route.name]
    url, wrong = reverse(route.name), []
    for role in API_ROLES:
        headers = {}
        if role == "other-project":
            headers["Authorization"] = f"Bearer {world.other.keys['all']}"
        elif role in world.own.keys:
            headers["Authorization"] = f"Bearer {world.own.keys[role]}"
        mine, theirs = ("other", "own") if role == "other-project" else ("own", "other")
        body = {"model": world.side(theirs).upstream_model, "messages": [{"role": "user", "content": "Hi"}]}
        client = world.client("admin" if role == "session" else "anonymous")
        with cell():
            if method == "GET":
                response = client.get(url, headers=headers)
            else:
                response = client.post(url, orjson.dumps(body), content_type="application/json", headers=headers)
        status, where = response.status_code, f"{method} {url} with {role}"
        if role in ("none", "session", "revoked"):
            expected = 401
        elif scope not in _scopes(role):
            expected = 403
        else:
            expected = 200 if route.name == "gateway-models" else 404  # 404: model_not_found
        if status != expected:
            wrong.append(f"{where}: {status}, expected {expected}: {response.content[:200]!r}")
        elif status == 200 and [m["id"] for m in response.json()["data"]] != [world.side(mine).upstream_model]:
            wrong.append(f"{where}: lists {response.json()['data']}")
        elif shown := [m for m in leaked(world, theirs, response) if m != body["model"]]:  # the name it asked for
            wrong.append(f"{where}: shows the other project's {shown}")
    assert not wrong, "\n".join(wrong)
