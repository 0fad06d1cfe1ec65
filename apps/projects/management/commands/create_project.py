from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.common.errors import DomainError
from apps.projects.services import api_key_create, project_create


class Command(BaseCommand):
    help = "Create a project and print a new API key for it (the key is the last line of the output)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="lower-case letters, digits and hyphens, e.g. support-bot")
        parser.add_argument("--name", default="", help="a display name (default: from the slug)")
        parser.add_argument("--admin", default="", help="username to make the project's admin")

    def handle(self, *args: Any, slug: str, name: str, admin: str, **options: Any) -> None:
        admin_user = None
        if admin:
            admin_user = User.objects.filter(username=admin).first()
            if admin_user is None:
                raise CommandError(f"No user named '{admin}'")
        try:
            project = project_create(slug=slug, name=name, admin=admin_user)
            _, secret = api_key_create(project=project, name="created with create_project")
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Created project '{project.name}' ({project.slug}).")
        self.stdout.write("Its API key, shown only now (send it as 'Authorization: Bearer <key>'):")
        self.stdout.write(secret)
