from django.urls import path

from identities.signin import views

urlpatterns = [
    path("accounts/login/", views.sign_in, name="login"),
    path("accounts/logout/", views.sign_out, name="logout"),
    path("accounts/second-factor/", views.second_factor_verify, name="second_factor_verify"),
    path("accounts/second-factor/enrol/", views.second_factor_enrol, name="second_factor_enrol"),
    path("accounts/step-up/", views.step_up, name="step_up"),
    path("accounts/security/", views.account_security, name="account_security"),
    path("accounts/security/second-factor/remove/", views.second_factor_remove, name="second_factor_remove"),
    path("oidc/authenticate/", views.sso_start, name="oidc_authentication_init"),
    path("oidc/callback/", views.sso_callback, name="oidc_authentication_callback"),
]
