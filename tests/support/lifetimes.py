"""What the components hand the Redis writers, taken from the one Settings.

The writers have no defaults of their own (issue #13): tests pass these, as the
operator, bridge and API pass their `Settings` values.
"""

from __future__ import annotations

from devskyy_operator.settings import Settings

DEFAULTS = Settings.model_construct()  # the declared defaults; no environment read
# cancel(), reclaim_expired()
RECORD_TTL = {"record_ttl_seconds": DEFAULTS.task_record_ttl_seconds}
# mark_completed(), mark_failed(): a finished task also counts toward throughput
FINISH = {**RECORD_TTL, "throughput_window_seconds": DEFAULTS.throughput_window_seconds}
# queue_position()
WINDOW = {"window_seconds": DEFAULTS.throughput_window_seconds}
