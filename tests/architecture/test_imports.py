"""The shape of the code, read from the source: no import cycle between modules of apps, tasks and
workers; workers free of Django and of the apps; services and selectors never reach up to tasks, views or
the API. (That the web process never loads torch through any of this is tests/common/test_no_torch.py.)"""

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("apps", "workers", "controlplane")
# The one reading of message content, shared by the apps and the training job: plain Python.
DJANGO_FREE = {"apps.common.messages"}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def sources() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" not in path.parts:
                found[module_name(path)] = path
    return found


MODULES = sources()


def imports(path: Path) -> Iterator[tuple[str, bool]]:
    """(module imported, at module level?) for each import of ours in the file."""
    tree = ast.parse(path.read_text())
    top_level = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in MODULES else node.module
                     for alias in node.names]  # fmt: skip
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                while name not in MODULES and "." in name:
                    name = name.rsplit(".", 1)[0]
                yield name, id(node) in top_level


def graph() -> dict[str, set[str]]:
    return {name: {target for target, _ in imports(path) if target != name} for name, path in MODULES.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in edges.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_the_modules_and_their_imports() -> None:
    edges = graph()
    assert "apps.calls.services" in edges and "apps.calls.tasks" in edges
    assert "apps.calls.services" in edges["apps.calls.tasks"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_between_apps_tasks_and_workers() -> None:
    assert cycles(graph()) == []


def test_workers_import_neither_django_nor_the_apps() -> None:
    bad = []
    for name, path in MODULES.items():
        if not name.startswith("workers"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            module = None
            if isinstance(node, ast.Import):
                module = node.names[0].name
            elif isinstance(node, ast.ImportFrom):
                module = node.module
            if module in DJANGO_FREE:
                continue
            if module and module.split(".")[0] in ("django", "apps", "controlplane", "celery"):
                bad.append(f"{name} imports {module}")
    assert bad == []


def test_what_workers_may_share_with_the_apps_is_free_of_django() -> None:
    for name in DJANGO_FREE:
        assert {target for target, _ in imports(MODULES[name])} == set()
        assert "django" not in MODULES[name].read_text()


def test_services_and_selectors_never_import_tasks_views_or_the_api() -> None:
    bad = [
        f"{name} imports {target}"
        for name, path in MODULES.items()
        if name.rsplit(".", 1)[-1] in ("services", "selectors")
        for target, _ in imports(path)
        if target.rsplit(".", 1)[-1] in ("tasks", "views", "api", "urls")
    ]
    assert bad == []


def test_every_pipeline_app_has_the_same_files() -> None:
    expected = {"models.py", "services.py", "selectors.py", "tasks.py", "apps.py", "admin.py", "urls.py", "views.py"}
    expected |= {"api.py", "schemas.py"}
    for app in ("calls", "curation", "discovery", "specialists", "fleet"):
        folder = ROOT / "apps" / app
        present = {path.name for path in folder.iterdir()} | {f"{p.name}.py" for p in folder.iterdir() if p.is_dir()}
        assert expected <= present, f"apps/{app} lacks {sorted(expected - present)}"
