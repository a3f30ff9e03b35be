"""The Commissioner's office's pages: the year's overview, trends, a provider, grants and downloads.

Only holders of monitoring:read reach any of them (anyone else gets the portal's 404); recording and editing
grants also needs grants:write. Figures come from the monitoring service, suppressed exactly as in the API.
"""

from __future__ import annotations

from gateway.auth.principal import Scope
from gateway.web.commissioner import grants, pages, view
from gateway.web.portal import Portal

READ = (Scope.MONITORING_READ,)
BOTH = ("GET", "POST")


def add_commissioner_pages(portal: Portal) -> None:
    portal.environment.globals["category_label"] = view.category_label
    portal.section(pages.BASE, "Commissioner's overview", Scope.MONITORING_READ)
    portal.section(grants.BASE, "Grants", Scope.MONITORING_READ)
    portal.section(pages.BASE + "/downloads", "Downloads", Scope.MONITORING_READ)
    # Fixed paths before /commissioner/{year}, which would otherwise take them for a year (and answer 404).
    portal.page("/commissioner", pages.start, scopes=READ)
    portal.page("/commissioner/year", pages.choose_year, scopes=READ)
    portal.page("/commissioner/grants", grants.grant_list, scopes=READ)
    portal.page("/commissioner/grants/new", grants.new_grant, methods=BOTH, scopes=(Scope.GRANTS_WRITE,))
    portal.page("/commissioner/grants/{id}", grants.edit_grant, methods=BOTH, scopes=(Scope.GRANTS_WRITE,))
    portal.page("/commissioner/downloads", pages.downloads, scopes=READ)
    portal.page("/commissioner/downloads/quarterly-return-{period}.{format}", pages.return_file, scopes=READ)
    portal.page("/commissioner/downloads/monitoring-{year}.{format}", pages.monitoring_file, scopes=READ)
    portal.page("/commissioner/{year}", pages.overview, scopes=READ)
    portal.page("/commissioner/{year}/trends", pages.trends, scopes=READ)
    # The chart before the trend page: "{measure}" alone would also match "received.svg".
    portal.page("/commissioner/{year}/trends/{measure}.svg", pages.chart, scopes=READ)
    portal.page("/commissioner/{year}/trends/{measure}", pages.trends, scopes=READ)
    portal.page("/commissioner/{year}/providers/{slug}", pages.provider_page, scopes=READ)
