"""Rules for the Commissioner's monitoring: aggregates per provider and quarter, small numbers suppressed.

Only holders of monitoring:read reach these figures, and nothing here returns a row about a person: every
query groups in SQL and hands back counts, so no victim id, name or personal field leaves this package.

Figures count referrals to a provider (tasks); a victim referred to two providers counts once for each.
Each event falls in the quarter it happened: received when the Hub sent the task, accepted when accepted,
rejected, cancelled, completed and failed when closed, first contact when made; "in progress" is what was
sent and not yet closed at the end of the quarter. Tasks marked entered-in-error are left out everywhere.

access: who may ask, and for which quarters; queries: the counts, read from the delivery rollup (and their
full recomputation from the tasks, which the rollup must equal); funding and monitored: grants,
targets and the providers; margins: totals and the sums suppression respects; report, returns and rj: what each
caller gets.
"""

from gateway.monitoring.service.figures import Count, MonitoringRow, QuarterlyReturn, Rag, RjQuarterFigures
from gateway.monitoring.service.report import monitoring_report
from gateway.monitoring.service.returns import quarterly_return
from gateway.monitoring.service.rj import restorative_justice_monitoring

__all__ = [
    "Count",
    "MonitoringRow",
    "QuarterlyReturn",
    "Rag",
    "RjQuarterFigures",
    "monitoring_report",
    "quarterly_return",
    "restorative_justice_monitoring",
]
