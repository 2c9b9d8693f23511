"""Every declared report, in menu order (views/reports.py serves each; seed/reference.py
seeds the right ``report.<slug>`` and grants it by the report's groups)."""

from __future__ import annotations

from . import campaigns, churn, composition, contribution, funnel, performance, receivables, service

REPORTS = (
    receivables.REPORT,
    contribution.REPORT,
    composition.REPORT,
    churn.REPORT,
    funnel.REPORT,
    performance.REPORT,
    service.REPORT,
    campaigns.REPORT,
)
BY_SLUG = {report.slug: report for report in REPORTS}
