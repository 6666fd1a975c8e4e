"""Dashboard pages for identity: one's own API tokens, and the tenant admin area's users, groups and tokens.

Every page asks the permission gate (``apps.access``): owners and admins administer users, groups and every token;
everyone manages their own tokens.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from apps.access.declarations import access
from apps.access.policy import CREATE, DELETE, READ, UPDATE
from apps.access.selectors import require
from apps.accounts import selectors, services
from apps.accounts.choices import Role
from apps.accounts.forms import (
    GroupForm,
    GroupMemberForm,
    ServiceTokenForm,
    TokenForm,
    UserCreateForm,
    UserEditForm,
)
from maestro.ui.forms import call_service
from maestro.ui.listing import page_of


def _create_token(request, form, *, user=None):
    return call_service(
        form,
        services.token_create_for,
        actor=request.user,
        actor_scope=None,  # a dashboard session is not limited by token scopes
        user=user,
        name=form.cleaned_data["name"],
        scope=form.cleaned_data["scope"],
        expires_at=form.expires_at(),
    )


# ---------------------------------------------------------------------------------------------- own tokens
@access("tokens", get=READ, post=CREATE)
@never_cache
@login_required
def token_list(request):
    """Your tokens, and a form to create one. A new token's secret is on this response only (never stored)."""
    form = TokenForm(request.POST or None)
    created = None
    if request.method == "POST":
        require(request.user, "tokens", "create")
        if form.is_valid():
            created = _create_token(request, form)
            if created is not None:
                form = TokenForm()
    tokens = selectors.token_list(user=request.user).filter(user=request.user)
    return render(request, "accounts/tokens.html", {"form": form, "created": created, "tokens": tokens})


@access("tokens", post=UPDATE)
@login_required
@require_POST
def token_revoke(request, pk: int):
    """Revoke a token (your own; owners and admins: any of the tenant's) and go back where the form was."""
    token = selectors.token_list(user=request.user).filter(pk=pk).first()
    if token is None:
        raise Http404("No such token.")
    require(request.user, "tokens", "change", token)
    services.token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” ({token.prefix}…) revoked. Requests using it now get 401.")
    if token.user_id != request.user.pk or request.POST.get("next") == "manage":
        return redirect("accounts:manage-tokens")
    return redirect("accounts:tokens")


# ---------------------------------------------------------------------------------------------- admin area
def _admin_only(request) -> None:
    """The admin area is for those who may administer users (owners and admins); others get 403."""
    require(request.user, "users", "create")


@access("users", get=CREATE)
@login_required
def manage_home(request):
    _admin_only(request)
    return redirect("accounts:manage-users")


@access("users", get=CREATE, post=CREATE)
@login_required
def manage_users(request):
    _admin_only(request)
    form = UserCreateForm(request.POST or None, actor=request.user)
    if request.method == "POST" and form.is_valid():
        user = call_service(form, services.user_create_by, actor=request.user, data=form.cleaned_data)
        if user is not None:
            kind = "Service account" if user.is_service_account else "User"
            messages.success(request, f"{kind} “{user.username}” created as {user.get_role_display().lower()}.")
            return redirect("accounts:manage-user", pk=user.pk)
    users = selectors.user_list(user=request.user)
    search = request.GET.get("q", "").strip()
    if search:
        users = users.filter(
            Q(username__icontains=search)
            | Q(email__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    role = request.GET.get("role", "")
    if role in Role.values:
        users = users.filter(role=role)
    context = {
        "form": form,
        "page": page_of(request, users, per_page=50),
        "roles": Role.choices,
        "search": search,
        "role": role,
        "section": "users",
    }
    return render(request, "accounts/manage_users.html", context)


@access("users", get=CREATE, post=UPDATE)
@login_required
def manage_user(request, pk: int):
    _admin_only(request)
    target = selectors.user_list(user=request.user).filter(pk=pk).first()
    if target is None:
        raise Http404("No such user.")
    initial = {name: getattr(target, name) for name in ("email", "first_name", "last_name", "role", "is_active")}
    form = UserEditForm(request.POST or None, initial=initial, actor=request.user)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        if call_service(form, services.user_update, actor=request.user, user=target, data=data) is not None:
            messages.success(request, f"“{target.username}” saved." if data else "Nothing changed.")
            return redirect("accounts:manage-user", pk=target.pk)
    context = {
        "target": target,
        "form": form,
        "groups": list(target.groups.order_by("name")),
        "tokens": list(selectors.token_list(user=request.user).filter(user=target)),
        "section": "users",
    }
    return render(request, "accounts/manage_user.html", context)


@access("users", get=CREATE, post=CREATE)
@login_required
def manage_groups(request):
    _admin_only(request)
    form = GroupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        group = call_service(form, services.group_create, actor=request.user, name=form.cleaned_data["name"])
        if group is not None:
            messages.success(request, f"Group “{group.name}” created.")
            return redirect("accounts:manage-group", pk=group.pk)
    groups = selectors.group_list(user=request.user)
    return render(request, "accounts/manage_groups.html", {"form": form, "groups": groups, "section": "groups"})


def _group_or_404(request, pk: int):
    group = selectors.group_list(user=request.user).filter(pk=pk).first()
    if group is None:
        raise Http404("No such group.")
    return group


@access("users", get=CREATE, post=UPDATE)
@login_required
def manage_group(request, pk: int):
    _admin_only(request)
    group = _group_or_404(request, pk)
    members = selectors.user_list(user=request.user).filter(groups=group)
    candidates = selectors.user_list(user=request.user).filter(is_active=True, is_service_account=False)
    candidates = candidates.exclude(groups=group)
    form = GroupMemberForm(request.POST or None, users=candidates)
    if request.method == "POST" and form.is_valid():
        user = form.cleaned_data["user"]
        added = call_service(form, services.group_member_add, actor=request.user, group=group, user=user)
        if added:
            messages.success(request, f"{user.username} joined “{group.name}”.")
            return redirect("accounts:manage-group", pk=group.pk)
    context = {"group": group, "members": members, "form": form, "section": "groups"}
    return render(request, "accounts/manage_group.html", context)


@access("users", post=UPDATE)
@login_required
@require_POST
def manage_group_remove(request, pk: int, user_pk: int):
    _admin_only(request)
    group = _group_or_404(request, pk)
    user = selectors.user_list(user=request.user).filter(pk=user_pk, groups=group).first()
    if user is None:
        raise Http404("No such member.")
    services.group_member_remove(actor=request.user, group=group, user=user)
    messages.success(request, f"{user.username} left “{group.name}”.")
    return redirect("accounts:manage-group", pk=group.pk)


@access("users", post=DELETE)
@login_required
@require_POST
def manage_group_delete(request, pk: int):
    _admin_only(request)
    group = _group_or_404(request, pk)
    services.group_delete(actor=request.user, group=group)
    messages.success(request, f"Group “{group.name}” deleted with its grants.")
    return redirect("accounts:manage-groups")


@access("users", get=CREATE, post=CREATE)  # the admin area: for those who administer users
@never_cache
@login_required
def manage_tokens(request):
    """Every token of the tenant (owners and admins), and creating one for yourself or a service account."""
    _admin_only(request)
    service_accounts = selectors.user_list(user=request.user).filter(is_service_account=True, is_active=True)
    form = ServiceTokenForm(request.POST or None, service_accounts=service_accounts)
    created = None
    if request.method == "POST" and form.is_valid():
        created = _create_token(request, form, user=form.cleaned_data.get("user"))
        if created is not None:
            form = ServiceTokenForm(service_accounts=service_accounts)
    tokens = selectors.token_list(user=request.user)
    owner = request.GET.get("user", "")
    if owner.isdecimal():
        tokens = tokens.filter(user_id=int(owner))
    active_only = request.GET.get("active") == "1"
    if active_only:
        tokens = tokens.model.objects.usable().filter(pk__in=tokens.values("pk")).select_related("user")
        tokens = tokens.order_by("-created_at", "-id")
    context = {
        "form": form,
        "created": created,
        "page": page_of(request, tokens, per_page=50),
        "users": selectors.user_list(user=request.user).filter(api_tokens__isnull=False).distinct(),
        "owner": owner,
        "active_only": active_only,
        "section": "tokens",
    }
    return render(request, "accounts/manage_tokens.html", context)
