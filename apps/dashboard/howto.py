"""How-to pages for team leads: logging runs, connecting Git/CI, and the run search grammar.

The snippets are written for the lead's own organisation: the host in them is the one the page was opened on, the
project is one the lead may see, and **Create a token for these snippets** puts a freshly created write token into
them (shown on that response only, like the tokens page; never cached). Without one they read ``$MAESTRO_TOKEN``.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.views.decorators.cache import never_cache

from apps.access.declarations import access
from apps.access.policy import CREATE, READ
from apps.access.selectors import can, require
from apps.accounts import services as account_services
from apps.accounts.choices import TokenScope
from apps.projects.selectors import project_list

TOPICS = {
    "log-runs": ("How to log runs", "dashboard/help/log_runs.html"),
    "git-ci": ("How to connect Git and CI", "dashboard/help/git_ci.html"),
    "run-search": ("Run search expressions", "dashboard/help/run_search.html"),
}
TOKEN_TOPICS = ("log-runs", "git-ci")


def _project(request):
    """The project the snippets use: ``?project=`` when the lead may see it, else their newest visible one."""
    visible = project_list(user=request.user, owner=False)
    asked = request.GET.get("project", "")
    project = visible.filter(pk=int(asked)).first() if asked.isdecimal() else None
    return project or visible.first()


@access("tokens", get=READ, post=CREATE)  # every role sees its own tokens; the page's POST creates one
@never_cache
@login_required
def help_page(request, topic: str):
    if topic not in TOPICS:
        raise Http404("No such help page.")
    title, template = TOPICS[topic]
    created = None
    if request.method == "POST" and topic in TOKEN_TOPICS:
        require(request.user, "tokens", "create")
        created = account_services.token_create_for(
            actor=request.user, actor_scope=None, name=f"{title.lower()} (help page)", scope=TokenScope.WRITE
        )
    elif request.method not in ("GET", "HEAD"):
        raise Http404("No such help page.")
    context = {
        "topic": topic,
        "title": title,
        "base": request.build_absolute_uri("/").rstrip("/"),
        "project": _project(request) if topic in TOKEN_TOPICS else None,
        "created": created,
        "token": created.plaintext if created else "$MAESTRO_TOKEN",
        "can_create_token": topic in TOKEN_TOPICS and can(request.user, "tokens", "create"),
        "topics": TOPICS,
    }
    return render(request, template, context)
