from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from tessera.api import api
from tessera.core.views import money_preview

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/tessera/marketing/", include("tessera.marketing.urls")),
    path("admin/tessera/imports/", include("tessera.imports.urls")),
    path("admin/tessera/reports/", include("tessera.reports.urls")),
    path("admin/tessera/", include("tessera.backoffice.urls")),
    path("admin/", admin.site.urls),
    # Under /staff/scan/ so the two-factor guard of the scanner covers it too.
    path("staff/scan/amount/", money_preview, name="money_preview"),
    path("staff/", include("tessera.backoffice.scanner_urls")),
    path("m/", include("tessera.portal.urls")),
    path("hooks/messaging/", include("tessera.marketing.hook_urls")),
    path("hooks/", include("tessera.integrations.urls")),
    path("api/v1/", api.urls),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
