import uuid

from django.conf import settings
from django.db import models


class Project(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    webhook_url = models.URLField(
        max_length=500,
        blank=True,
        default="",
        help_text="Told (a JSON POST) when a specialist's circuit breaker trips; blank: e-mail only.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"
    ENGINEER = "engineer", "Engineer"
    VIEWER = "viewer", "Viewer"


# What each role may do; a role includes the abilities listed for it only.
ROLE_ABILITIES: dict[str, frozenset[str]] = {
    Role.ADMIN: frozenset(
        {
            "view",
            "upload",
            "manage_keys",
            "approve",
            "manage_curation",
            "manage_tasks",
            "manage_members",
            "manage_settings",
        }
    ),
    Role.OWNER: frozenset({"view", "upload", "manage_keys", "approve", "manage_curation", "manage_tasks"}),
    Role.ENGINEER: frozenset({"view", "upload", "manage_keys", "manage_tasks"}),
    Role.VIEWER: frozenset({"view"}),
}


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user")]
        ordering = ["user__username"]

    def can(self, ability: str) -> bool:
        return ability in ROLE_ABILITIES[self.role]


class ApiKeyScope(models.TextChoices):
    INGEST = "ingest", "Ingest calls"
    READ = "read", "Read calls and tasks"
    DISCOVER = "discover", "Start task discovery"
    APPROVE = "approve", "Approve model swaps (owners and admins only)"
    ADMIN = "admin", "Admin: list GPU workers (effective only in a key a site administrator made)"
    GATEWAY = "gateway", "Call models through the gateway (/v1/chat/completions)"


# What a key gets when no scopes are named; "approve" and "admin" are only ever granted on purpose.
DEFAULT_API_KEY_SCOPES: tuple[str, ...] = (ApiKeyScope.INGEST, ApiKeyScope.READ, ApiKeyScope.DISCOVER)


class ApiKey(models.Model):
    """A project API key. Only a SHA-256 of the secret is stored; the secret is shown once."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, help_text="The first characters of the key, to recognise it.")
    hashed_key = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class OneTimePassword(models.Model):
    """The person's password was generated for them and shown to someone else (the admin who added them).
    While this row exists every page sends them to change it; choosing their own deletes it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="one_time_password"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"one-time password of {self.user}"
