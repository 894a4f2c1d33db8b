"""The counters in Redis, shared by every replica: one Lua script per reserve, one per settle.

A script runs atomically, so the check of every limit and the reservation against all of them
are one step for all replicas together: two replicas can never both take the last unit.
Sliding windows are sorted sets (member "<request id>:<amount>", score the time by Redis's own
clock, so replicas' clocks need not agree) with a running total for tokens, so a check costs the
entries that expire, not the window's size; budgets are INCRBYFLOAT counters that expire after
their window ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import redis.asyncio as aioredis

from gateway.limits.checks import Check
from gateway.limits.counters import Outcome, Usage

# KEYS: two per check, the counter (a sorted set for windows) and the running total of a token window.
# ARGV: request id, then kind, limit, amount, span per check.
RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1e6
local rid = ARGV[1]
local n = #KEYS / 2
local used, resets = {}, {}
for i = 1, n do
  local key, total = KEYS[2 * i - 1], KEYS[2 * i]
  local b = 1 + (i - 1) * 4
  local kind, limit, amount, span = ARGV[b + 1], tonumber(ARGV[b + 2]), tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  local u, reset = 0, span
  if kind == 'sum' then
    u = tonumber(redis.call('GET', key) or '0')
  else
    local expired = redis.call('ZRANGEBYSCORE', key, '-inf', now - span)
    if #expired > 0 then
      if kind == 'tokens' then
        local gone = 0
        for _, m in ipairs(expired) do gone = gone + tonumber(string.match(m, ':([^:]+)$')) end
        redis.call('INCRBYFLOAT', total, -gone)
      end
      redis.call('ZREMRANGEBYSCORE', key, '-inf', now - span)
    end
    if kind == 'count' then
      u = redis.call('ZCARD', key)
    else
      u = math.max(0, tonumber(redis.call('GET', total) or '0'))
    end
    local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
    if oldest[2] then reset = tonumber(oldest[2]) + span - now end
  end
  used[i], resets[i] = u, reset
  if u + amount > limit then
    local out = {0, i}
    for j = 1, i do table.insert(out, tostring(used[j])); table.insert(out, tostring(resets[j])) end
    return out
  end
end
local out = {1, 0}
for i = 1, n do
  local key, total = KEYS[2 * i - 1], KEYS[2 * i]
  local b = 1 + (i - 1) * 4
  local kind, amount, span = ARGV[b + 1], tonumber(ARGV[b + 3]), tonumber(ARGV[b + 4])
  if kind == 'sum' then
    redis.call('INCRBYFLOAT', key, amount)
    redis.call('EXPIRE', key, math.ceil(span) + 86400)
  else
    redis.call('ZADD', key, now, rid .. ':' .. ARGV[b + 3])
    redis.call('EXPIRE', key, math.ceil(span) + 60)
    if kind == 'tokens' then
      redis.call('INCRBYFLOAT', total, amount)
      redis.call('EXPIRE', total, math.ceil(span) + 60)
    end
  end
  table.insert(out, tostring(used[i] + amount)); table.insert(out, tostring(resets[i]))
end
return out
"""

# KEYS: as for RESERVE. ARGV: request id, then kind, reserved amount, real amount per check.
SETTLE = """
local rid = ARGV[1]
for i = 1, #KEYS / 2 do
  local key, total = KEYS[2 * i - 1], KEYS[2 * i]
  local b = 1 + (i - 1) * 3
  local kind, reserved, real = ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]
  if kind == 'sum' then
    redis.call('INCRBYFLOAT', key, tonumber(real) - tonumber(reserved))
  elseif kind == 'tokens' then
    local score = redis.call('ZSCORE', key, rid .. ':' .. reserved)
    if score then
      redis.call('ZREM', key, rid .. ':' .. reserved)
      redis.call('ZADD', key, score, rid .. ':' .. real)
      redis.call('INCRBYFLOAT', total, tonumber(real) - tonumber(reserved))
    end
  end
end
return 1
"""


class RedisCounters:
    def __init__(self, url: str, *, socket_timeout_s: float) -> None:
        self._redis = aioredis.Redis.from_url(url, socket_timeout=socket_timeout_s,
                                              socket_connect_timeout=socket_timeout_s)
        self._reserve = self._redis.register_script(RESERVE)
        self._settle = self._redis.register_script(SETTLE)

    async def reserve(self, checks: Sequence[Check], request_id: str) -> Outcome:
        args: list[str] = [request_id]
        for check in checks:
            args += [check.kind, repr(float(check.limit)), _amount(check.amount), repr(float(check.span))]
        reply = await self._reserve(keys=_keys(checks), args=args)
        usage = tuple(Usage(float(reply[k]), float(reply[k + 1])) for k in range(2, len(reply), 2))
        admitted = int(reply[0]) == 1
        return Outcome(admitted, usage, -1 if admitted else int(reply[1]) - 1)

    async def settle(self, checks: Sequence[Check], request_id: str, amounts: Sequence[float]) -> None:
        args: list[str] = [request_id]
        for check, amount in zip(checks, amounts, strict=True):
            args += [check.kind, _amount(check.amount), _amount(amount)]
        await self._settle(keys=_keys(checks), args=args)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _keys(checks: Sequence[Check]) -> list[str]:
    # every key a script touches is named in KEYS, as Redis asks of scripts
    return [key for c in checks for key in (c.key, f"{c.key}:total")]


def _amount(value: float) -> str:
    # the same text at reserve and settle: it is part of the sorted-set member
    return repr(float(value))
