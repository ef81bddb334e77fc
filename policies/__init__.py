"""Business rules, one module per area, enforced on every write path through peewee signals.

Importing this package declares every rule and connects its receivers, once.
The area modules are imported in a fixed order; that is the order their receivers run.
"""
from policies.engine import ACTION_LABELS
from policies.engine import FLAGS
from policies.engine import RULES
from policies.engine import PolicyViolation
from policies.engine import connect_raiser
from policies.engine import flags_for
from policies.engine import log_blocked
from policies import audit  # noqa: F401
from policies import accounts  # noqa: F401
from policies import approvals  # noqa: F401
from policies import workflow  # noqa: F401
from policies import calendar  # noqa: F401
from policies import archives  # noqa: F401
from policies import complaints  # noqa: F401
from policies import credit  # noqa: F401
from policies import customers  # noqa: F401
from policies import visits  # noqa: F401
from policies import privacy  # noqa: F401
from policies import reception  # noqa: F401
from policies import service  # noqa: F401
from policies import moveout  # noqa: F401
from policies import attendance  # noqa: F401
from policies import qc  # noqa: F401
import tallies  # noqa: E402,F401  (the charts' customer counts, kept on every write)

workflow.connect_late()
connect_raiser()

__all__ = ["ACTION_LABELS", "FLAGS", "RULES", "PolicyViolation", "flags_for", "log_blocked"]
