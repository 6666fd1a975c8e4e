"""Dashboard views of the access app."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from apps.access import policy, selectors, services
from apps.access.declarations import access
from apps.access.forms import LEVEL_CHOICES, GrantForm
from apps.access.grant_targets import grant_target, grant_targets
from apps.access.policy import CREATE, DELETE, READ
from apps.access.selectors import can, require
from apps.accounts.selectors import group_list, user_list
from maestro.passwords import LockoutAwarePasswordChangeView
from maestro.ui.forms import call_service


class PasswordChangeView(LockoutAwarePasswordChangeView):
    """The dashboard's "change password" page: old-password guesses count towards the login lockout."""


# ---------------------------------------------------------------------------------------------- grants
CHOOSER_LIMIT = 20


def _grant_target(request):
    """The project or artifact named by ``?object_type=&object_id=``, looked up through its owner's selector (so
    objects the user cannot see are 404), or None when the query names none (``grant_targets``: what may be named)."""
    target = grant_target(request.GET.get("object_type", ""))
    raw_id = request.GET.get("object_id", "")
    if target is None or not raw_id.isdecimal():
        return None
    obj = target.visible_to(user=request.user).filter(pk=int(raw_id)).first()
    if obj is None:
        raise Http404("Not found.")
    return obj


def _grant_form(request, data=None):
    users = user_list(user=request.user).filter(is_active=True)
    return GrantForm(data, users=users, groups=group_list(user=request.user))


@access("grants", get=READ, post=CREATE)
@login_required
def grants(request):
    """Who may see, change and manage one project or artifact — and changing that. Without an object: find one.

    Owners and admins manage grants everywhere, leads on what they manage (the matrix's ``grants`` resource)."""
    require(request.user, "grants", policy.READ)
    obj = _grant_target(request)
    if obj is None:
        search = request.GET.get("q", "").strip()
        found = {target.plural: [] for target in grant_targets()}
        if search:
            for target in grant_targets():
                matches = target.visible_to(user=request.user).filter(name__icontains=search)
                found[target.plural] = list(matches[:CHOOSER_LIMIT])
        return render(request, "access/grants_chooser.html", {"search": search, "found": found, "section": "grants"})
    require(request.user, "grants", policy.READ, obj)
    kind = obj._meta.model_name  # the kind its app registered (grant_targets)
    form = _grant_form(request, request.POST or None)
    if request.method == "POST":
        require(request.user, "grants", policy.CREATE, obj)
        if form.is_valid():
            grant = call_service(
                form,
                services.grant_set,
                actor=request.user,
                obj=obj,
                level=form.cleaned_data["level"],
                **form.principal_kwargs(),
            )
            if grant is not None:
                messages.success(request, f"{grant.principal} now holds {grant.level} on “{obj}”.")
                return redirect(f"{request.path}?object_type={kind}&object_id={obj.pk}")
    context = {
        "obj": obj,
        "kind": kind,
        "grants": selectors.grant_list(obj),
        "form": form,
        "can_change": can(request.user, "grants", policy.CREATE, obj),
        "levels": LEVEL_CHOICES,
        "section": "grants",
    }
    return render(request, "access/grants.html", context)


@access("grants", post=DELETE)
@login_required
@require_POST
def grant_remove(request):
    obj = _grant_target(request)
    if obj is None:
        raise Http404("Not found.")
    require(request.user, "grants", policy.DELETE, obj)
    kind, _, pk = request.POST.get("principal", "").partition(":")
    source = user_list(user=request.user) if kind == "user" else group_list(user=request.user)
    principal = source.filter(pk=int(pk)).first() if kind in ("user", "group") and pk.isdecimal() else None
    if principal is None:
        raise Http404("No such user or group.")
    before = services.grant_remove(actor=request.user, obj=obj, **{kind: principal})
    messages.success(request, f"{principal} no longer holds {before} on “{obj}”." if before else "Nothing to remove.")
    return redirect(f"{reverse('access:grants')}?object_type={request.GET['object_type']}&object_id={obj.pk}")
