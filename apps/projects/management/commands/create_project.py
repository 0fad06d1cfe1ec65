from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.common.errors import DomainError
from apps.projects.models import DEFAULT_API_KEY_SCOPES, ApiKeyScope
from apps.projects.services import api_key_create, project_create


def _scopes(value: str) -> list[str]:
    """The scopes named: "all", or scopes separated by commas."""
    if value.strip() == "all":
        return list(ApiKeyScope.values)
    scopes = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in ApiKeyScope.values]
    if unknown or not scopes:
        raise CommandError(
            f"Unknown scope{'s' if len(unknown) > 1 else ''} {', '.join(unknown) or '(none given)'}: "
            f"choose from {', '.join(ApiKeyScope.values)}, or all"
        )
    return scopes


class Command(BaseCommand):
    help = "Create a project and print a new API key for it (the key is the last line of the output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="lower-case letters, digits and hyphens, e.g. support-bot")
        parser.add_argument("--name", default="", help="a display name (default: from the slug)")
        parser.add_argument("--admin", default="", help="username to make the project's admin")
        parser.add_argument(
            "--scopes",
            default=",".join(DEFAULT_API_KEY_SCOPES),
            help=f"the key's scopes, separated by commas, from {', '.join(ApiKeyScope.values)}; or all "
            f"(default: {','.join(DEFAULT_API_KEY_SCOPES)})",
        )

    def handle(self, *args: Any, slug: str, name: str, admin: str, scopes: str, **options: Any) -> None:
        chosen = _scopes(scopes)
        admin_user = None
        if admin:
            admin_user = User.objects.filter(username=admin).first()
            if admin_user is None:
                raise CommandError(f"No user named '{admin}'")
        try:
            with transaction.atomic():
                project = project_create(slug=slug, name=name, admin=admin_user)
                key, secret = api_key_create(
                    project=project, name="created with create_project", scopes=chosen, operator=True
                )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created project '{project.name}' ({project.slug}).")
        self.stdout.write(f"Its API key has the scopes {', '.join(key.scopes)}.")
        self.stdout.write("Its API key, shown only now (send it as 'Authorization: Bearer <key>'):")
        self.stdout.write(secret)
