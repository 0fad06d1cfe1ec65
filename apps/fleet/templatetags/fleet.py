from django import template
from django.contrib.auth.models import AnonymousUser, User

from apps.fleet import selectors

register = template.Library()


@register.simple_tag
def may_manage_workers(user: User | AnonymousUser) -> bool:
    """`{% may_manage_workers user as can_manage_workers %}`: whether to link the GPU workers page."""
    return selectors.user_may_manage_workers(user=user)
