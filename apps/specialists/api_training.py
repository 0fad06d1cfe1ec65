from ninja import Router

from apps.projects.auth import ProjectApiKey

router = Router(tags=["specialists"], auth=ProjectApiKey())
