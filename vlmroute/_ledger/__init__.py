"""The spend ledger (one record per routed request) and the budgets enforced over it."""

from .book import BudgetBook, Reservation
from .budget import Budget, Period, period_bounds
from .memory import MemoryLedger, NullLedger
from .record import Ledger, SpendRecord, default_ledger_path
from .sqlite import SqliteLedger
from .summary import EstimateLine, SpendLine, SpendSummary, summarize

__all__ = [
    "Budget",
    "BudgetBook",
    "EstimateLine",
    "Ledger",
    "MemoryLedger",
    "NullLedger",
    "Period",
    "Reservation",
    "SpendLine",
    "SpendRecord",
    "SpendSummary",
    "SqliteLedger",
    "default_ledger_path",
    "period_bounds",
    "summarize",
]
