"""Progress of long work, as INFO records of one logger (`seslake.progress`), so the pure pipeline code reports
without knowing who listens: `seslake materialize` prints them as they come, and a Dagster instance that lists
the logger under `python_logs: managed_python_loggers` (the project instance does) shows them in the run's log.
"""

from __future__ import annotations

import logging

PROGRESS = logging.getLogger("seslake.progress")
"""Where the mail and events ingests say how far they are (a day parsed, a batch of event files read)."""
