from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.projects import selectors


@login_required
def project_list(request: HttpRequest) -> HttpResponse:
    return render(request, "projects/list.html", {"projects": selectors.project_list(user=request.user)})
