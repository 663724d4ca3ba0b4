from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.http import HttpRequest, HttpResponse, HttpResponsePermanentRedirect
from django.templatetags.static import static as static_url
from django.urls import include, path
from django.views.generic import RedirectView

from tessera.api import api
from tessera.backoffice import home
from tessera.core.views import money_preview


def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico whatever the page says; the icon's URL is known only at run time
    (hashed by the static storage in production)."""
    return HttpResponsePermanentRedirect(static_url("tessera/favicon.svg"))


urlpatterns = [
    # First: the till's requests are the most frequent, and the resolver tries the patterns in order.
    path("api/v1/", api.urls),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("favicon.ico", favicon),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/tessera/marketing/", include("tessera.marketing.urls")),
    path("admin/tessera/imports/", include("tessera.imports.urls")),
    path("admin/tessera/reports/", include("tessera.reports.urls")),
    path("admin/tessera/exports/", include("tessera.core.urls")),
    path("admin/tessera/", include("tessera.backoffice.urls")),
    # The admin home is each role's home page: the till for a cashier (issue 14); then the admin's own.
    path("admin/", admin.site.admin_view(home.index)),
    path("admin/", admin.site.urls),
    # Under /staff/scan/ so the two-factor guard of the scanner covers it too.
    path("staff/scan/amount/", money_preview, name="money_preview"),
    path("staff/", include("tessera.backoffice.scanner_urls")),
    path("m/", include("tessera.portal.urls")),
    path("hooks/messaging/", include("tessera.marketing.hook_urls")),
    path("hooks/", include("tessera.integrations.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
