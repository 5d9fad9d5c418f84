"""Sign-up, login, logout and password reset pages (Django's auth views, our templates)."""

from __future__ import annotations

from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse_lazy
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme

from liveshop.i18n import remember_language

from . import services
from .forms import LoginForm, PasswordResetForm, SignupForm


def _next_url(request: HttpRequest, default: str = "/") -> str:
    target = request.POST.get("next") or request.GET.get("next") or default
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(
        request.POST or None,
        initial={"email": request.GET.get("email", ""), "locale": translation.get_language()},
    )
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_register(**form.values())
        except ValidationError as exc:
            form.apply_errors(exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return remember_language(redirect(_next_url(request)), user.locale)
    return render(request, "accounts/signup.html", {"form": form, "next": _next_url(request, "")})


class LoginView(auth_views.LoginView):
    """Django's login; afterwards the site speaks the user's own language."""

    template_name = "accounts/login.html"
    authentication_form = LoginForm

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_valid(form)
        return remember_language(response, getattr(form.get_user(), "locale", None))


urlpatterns = [
    path(
        "login/",
        LoginView.as_view(),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("signup/", signup, name="signup"),
    path(
        "password-reset/",
        auth_views.PasswordResetView.as_view(
            template_name="accounts/password_reset.html",
            form_class=PasswordResetForm,
            email_template_name="emails/password_reset.txt",
            subject_template_name="emails/password_reset_subject.txt",
            success_url=reverse_lazy("password_reset_done"),
        ),
        name="password_reset",
    ),
    path(
        "password-reset/sent/",
        auth_views.PasswordResetDoneView.as_view(template_name="accounts/password_reset_done.html"),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        auth_views.PasswordResetConfirmView.as_view(
            template_name="accounts/password_reset_confirm.html",
            success_url=reverse_lazy("password_reset_complete"),
        ),
        name="password_reset_confirm",
    ),
    path(
        "reset/done/",
        auth_views.PasswordResetCompleteView.as_view(
            template_name="accounts/password_reset_complete.html"
        ),
        name="password_reset_complete",
    ),
]
