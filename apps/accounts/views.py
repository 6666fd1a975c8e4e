"""Dashboard pages for one's own account: API tokens (shown once on creation, revocable)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.accounts import selectors, services
from apps.accounts.forms import TokenForm
from apps.dashboard.forms import call_service
from apps.dashboard.permissions import require


@never_cache
@login_required
def token_list(request):
    """Your tokens, and a form to create one. A new token's secret is on this response only (never stored)."""
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST":
        require(request.user, "tokens", "create")
        if form.is_valid():
            created = call_service(
                form,
                services.token_create,
                user=request.user,
                name=form.cleaned_data["name"],
                scope=form.cleaned_data["scope"],
                expires_at=form.expires_at(),
            )
            if created is not None:
                form = TokenForm()
    tokens = selectors.token_list(user=request.user).filter(user=request.user)
    return render(request, "accounts/tokens.html", {"form": form, "created": created, "tokens": tokens})


@login_required
@require_POST
def token_revoke(request, pk: int):
    token = selectors.token_list(user=request.user).filter(user=request.user, pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    require(request.user, "tokens", "change", token)
    services.token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) revoked. Requests using it now get 401.")
    return redirect("accounts:tokens")
