from collections.abc import Callable

from django.contrib.auth.models import User
from django.test import Client

from apps.calls.ingest import Batch
from apps.calls.services import calls_ingest
from apps.projects.models import Membership, Project, Role
from tests.conftest import make_call


def test_lists_the_persons_projects_with_call_counts(
    login: Callable[[User], Client], viewer: User, project: Project, other_project: Project
) -> None:
    calls_ingest(project=project, batch=Batch(records=list(enumerate([make_call(), make_call()]))))
    response = login(viewer).get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Acme" in html and 'href="/p/acme/"' in html and "2 <span" in html and "Viewer" in html
    assert "Globex" not in html
    assert "New project" not in html  # only a superuser creates projects


def test_the_top_bar_switches_projects_and_shows_what_the_role_allows(
    login: Callable[[User], Client], viewer: User, other_project: Project
) -> None:
    Membership.objects.create(project=other_project, user=viewer, role=Role.ENGINEER)
    client = login(viewer)
    acme = client.get("/p/acme/").content.decode()
    assert 'href="/p/globex/"' in acme  # the switcher
    assert 'href="/p/acme/calls/"' in acme and 'href="/p/acme/members/"' in acme
    assert 'href="/p/acme/uploads/"' not in acme and 'href="/p/acme/keys/"' not in acme
    globex = client.get("/p/globex/").content.decode()
    assert 'href="/p/globex/uploads/"' in globex and 'href="/p/globex/keys/"' in globex
    assert 'action="/logout/"' in acme and 'hx-headers=\'{"X-CSRFToken": "' in acme


def test_a_person_without_projects_is_told_what_to_do(
    login: Callable[[User], Client], make_user: Callable[..., User]
) -> None:
    html = login(make_user("loner")).get("/").content.decode()
    assert "You are not in any project yet" in html


def test_a_superuser_creates_a_project_and_becomes_its_admin(
    login: Callable[[User], Client], make_user: Callable[..., User]
) -> None:
    root = make_user("root", is_superuser=True, is_staff=True)
    client = login(root)
    assert "New project" in client.get("/").content.decode()
    response = client.post("/projects/new/", {"slug": "support-agents", "name": "Support agents"})
    assert response.status_code == 302 and response["Location"] == "/p/support-agents/"
    project = Project.objects.get(slug="support-agents")
    assert project.name == "Support agents"
    assert Membership.objects.get(project=project, user=root).role == Role.ADMIN
    assert "Project Support agents created." in client.get(response["Location"]).content.decode()


def test_bad_or_taken_slugs_are_refused_on_the_form(
    login: Callable[[User], Client], make_user: Callable[..., User], project: Project
) -> None:
    client = login(make_user("root", is_superuser=True))
    bad = client.post("/projects/new/", {"slug": "Not a slug!"})
    assert bad.status_code == 400 and "Enter a valid “slug”" in bad.content.decode()
    taken = client.post("/projects/new/", {"slug": "acme"})
    assert (
        taken.status_code == 409 and "A project with the slug &#x27;acme&#x27; already exists" in taken.content.decode()
    )
    assert Project.objects.count() == 1


def test_only_a_superuser_creates_projects(login: Callable[[User], Client], admin_user: User) -> None:
    assert login(admin_user).post("/projects/new/", {"slug": "mine"}).status_code == 403
    assert not Project.objects.filter(slug="mine").exists()


def test_creating_is_post_only(login: Callable[[User], Client], make_user: Callable[..., User]) -> None:
    assert login(make_user("root", is_superuser=True)).get("/projects/new/").status_code == 405


def test_anonymous_is_sent_to_log_in(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == "/login/?next=/"
    assert client.post("/projects/new/", {"slug": "x"}).status_code == 302


def test_logging_in_and_out(client: Client, viewer: User) -> None:
    page = client.get("/login/").content.decode()
    assert 'name="username"' in page and 'name="password"' in page and "Log in to Downshift" in page
    failed = client.post("/login/", {"username": "viewer", "password": "wrong"})
    assert "Please enter a correct username and password" in failed.content.decode()
    response = client.post("/login/", {"username": "viewer", "password": "pw-for-tests"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/").status_code == 200
    assert client.post("/logout/").status_code == 302
    assert client.get("/").status_code == 302


def test_the_403_page_explains_the_role(login: Callable[[User], Client], viewer: User) -> None:
    response = login(viewer).get("/p/acme/keys/")
    assert response.status_code == 403
    assert "Your role (Viewer) cannot do this." in response.content.decode()
