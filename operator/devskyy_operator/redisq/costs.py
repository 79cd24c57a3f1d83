"""Reading the cost index (keys.COST_INDEX): finished tasks' costs in a time range."""

from __future__ import annotations

from devskyy_operator import keys
from devskyy_operator.cost.sums import CostEntry, parse_entry
from devskyy_operator.redisq.scripts import Redis

PAGE = 10_000


async def cost_entries(
    client: Redis, since: float, until: float, *, user_id: str | None = None
) -> list[CostEntry]:
    """The costs of tasks that finished in [since, until] (epoch seconds), of one user
    when `user_id` is given; read in pages so one call never blocks Redis for long."""
    found: list[CostEntry] = []
    offset = 0
    while True:
        members: list[str] = await client.zrangebyscore(
            keys.COST_INDEX, since, until, start=offset, num=PAGE
        )
        for member in members:
            entry = parse_entry(member)
            if entry is not None and (user_id is None or entry.user_id == user_id):
                found.append(entry)
        if len(members) < PAGE:
            return found
        offset += PAGE
