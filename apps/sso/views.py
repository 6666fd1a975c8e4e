"""Single sign-on pages: the login page with its "Sign in with …" link, the OpenID Connect redirect and callback, the
signed-out page, and the owner's settings page under /manage/.

The sign-in routes are open to anyone (they are how one signs in) and listed in ``policy.PUBLIC_ROUTES``; what guards
them is the protocol (``apps.sso.oidc``) and the rules of ``apps.sso.services``. The settings page is in the matrix
(``sso_settings``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from apps.access.declarations import access
from apps.access.policy import DELETE, READ, UPDATE
from apps.access.selectors import can
from apps.sso import oidc, selectors, services
from apps.sso.backends import BACKEND_PATH
from apps.sso.forms import SsoConfigForm
from apps.sso.oidc import SsoFailure
from maestro.ui.forms import call_service

SIGNED_OUT_URL = "_sso_signed_out_url"  # session (after logout): the provider's end-session URL, shown once


def _safe_next(request, candidate: str | None) -> str:
    allowed = url_has_allowed_host_and_scheme(candidate, {request.get_host()}, require_https=request.is_secure())
    return candidate if candidate and allowed else reverse("dashboard:home")


# ---------------------------------------------------------------------------------------------- signing in and out
class LoginView(auth_views.LoginView):
    """Django's login page, offering the tenant's provider when sign-in through it is on. In "SSO only" mode the
    password form stays for owners (break-glass); a refused password reads like a wrong one and says why it may be."""

    def dispatch(self, request, *args, **kwargs):
        self.sso = selectors.sso_login_option()
        return super().dispatch(request, *args, **kwargs)

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        if self.sso is not None and self.sso.sso_only:
            form.error_messages = {
                **form.error_messages,
                "invalid_login": "Wrong username or password. This organisation signs in with "
                f"{self.sso.display_name}: passwords work only for owners.",
            }
        return form

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "sso": self.sso}


class LogoutView(auth_views.LogoutView):
    """Ends the Maestro session; after a single sign-on, the signed-out page offers ending the provider's session too
    (a link: the dashboard's Content-Security-Policy keeps form submissions on this origin)."""

    def post(self, request, *args, **kwargs):
        id_token = request.session.get(oidc.ID_TOKEN)
        config = selectors.sso_login_option() if id_token else None
        response = super().post(request, *args, **kwargs)
        if config is None:
            return response
        url = oidc.logout_url(
            config, id_token=id_token, post_logout_redirect_uri=request.build_absolute_uri(reverse("login"))
        )
        if url is None:
            return response
        request.session[SIGNED_OUT_URL] = url
        return redirect("sso:signed-out")


def _offered():
    config = selectors.sso_login_option()
    if config is None:
        raise Http404("Single sign-on is not set up here.")
    return config


def _failed(request, failure: SsoFailure, config):
    """Record a refused sign-in (``sso.login_failed``) and tell the person why, with the failure's status."""
    services.sso_login_failure_record(failure=failure, config=config)
    return render(request, "sso/failed.html", {"failure": failure, "config": config}, status=failure.status)


@require_GET
@never_cache
def sso_login(request):
    """Start a sign-in at the tenant's provider (the login page's "Sign in with …" link)."""
    config = _offered()
    try:
        url = oidc.start(request, config, _safe_next(request, request.GET.get("next")))
    except SsoFailure as failure:
        return _failed(request, failure, config)
    return HttpResponseRedirect(url)


@require_GET
@never_cache
def sso_callback(request):
    """Where the provider sends the browser back: verify, find or create the user, sign them in."""
    config = _offered()
    try:
        verified = oidc.finish(request, config)
        sign_in = services.sso_user_resolve(config=config, claims=verified.claims)
    except SsoFailure as failure:
        return _failed(request, failure, config)
    login(request, sign_in.user, backend=BACKEND_PATH)
    request.session[oidc.ID_TOKEN] = verified.id_token
    services.sso_login_record(config=config, sign_in=sign_in, claims=verified.claims)
    return HttpResponseRedirect(_safe_next(request, verified.next_url))


@require_GET
@never_cache
def signed_out(request):
    """After logging out of an SSO session: the link that ends the session at the provider too."""
    url = request.session.pop(SIGNED_OUT_URL, None)
    if url is None:
        return redirect("login")
    config = selectors.sso_login_option()
    return render(request, "sso/signed_out.html", {"provider_logout_url": url, "config": config})


# ---------------------------------------------------------------------------------------------- settings
@access("sso_settings", get=READ, post=UPDATE)
@never_cache
@login_required
def sso_settings(request):
    """The tenant's provider: owners set it up (admins see it); the client secret is entered, never shown."""
    config = selectors.sso_config_for(user=request.user)
    form = SsoConfigForm(request.POST or None, initial=SsoConfigForm.initial_for(config))
    if request.method == "POST" and form.is_valid():
        saved = call_service(
            form,
            services.sso_config_save,
            actor=request.user,
            data=form.config_data(),
            secret=form.cleaned_data["client_secret"],
        )
        if saved is not None:
            state = "on" if saved.enabled else "off"
            messages.success(request, f"Single sign-on settings saved; sign-in with {saved.display_name} is {state}.")
            return redirect("sso:settings")
    context = {
        "form": form,
        "config": config,
        "can_change": can(request.user, "sso_settings", UPDATE),
        "can_delete": can(request.user, "sso_settings", DELETE),
        "callback_url": oidc.callback_url(request),
        "post_logout_url": request.build_absolute_uri(reverse("login")),
        "section": "sso",
    }
    return render(request, "sso/settings.html", context)


@access("sso_settings", post=DELETE)
@login_required
@require_POST
def sso_settings_delete(request):
    if services.sso_config_delete(actor=request.user):
        messages.success(request, "Single sign-on removed, with its client secret. Passwords work for everyone again.")
    return redirect("sso:settings")
