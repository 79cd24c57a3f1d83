"""Lua sources of every multi-key queue operation: each runs as one atomic Redis call.

Key names arrive as KEYS or as prefixes in ARGV (built in `keys.py`), never spelled
here. Scripts derive a few keys from a prefix plus a value read inside the script
(task type, user id): this targets a single Redis instance, not Redis Cluster.
Time comes from the server's TIME unless a test passes an explicit `now`.
"""

from __future__ import annotations

# Shared helpers, prepended to every script.
COMMON = r"""
local function clock(override)
  if override ~= nil and override ~= '' then return tonumber(override) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function iso_utc(epoch)
  local secs = math.floor(epoch)
  local micros = math.floor((epoch - secs) * 1000000 + 0.5)
  if micros >= 1000000 then secs = secs + 1; micros = micros - 1000000 end
  local days = math.floor(secs / 86400)
  local rem = secs - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)
    - math.floor(doe / 146096)) / 365)
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  local y = yoe + era * 400
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%06dZ', y, m, d,
    math.floor(rem / 3600), math.floor((rem % 3600) / 60), rem % 60, micros)
end

local function fmt(n) return string.format('%.6f', n) end

local function is_terminal(status) return status == 'completed' or status == 'failed' end

-- Writes the task hash, its queue entry and the user indexes; returns the score.
-- The hash fields are ARGV[from..to] (to: the last ARGV when nil); they open with
-- 'queue_score', '' (a slot the score computed here fills), so HSET takes them
-- straight from ARGV, uncopied.
local function write_task(task_key, queue_key, seq_key, user_tasks_key, user_queued_key,
                          task_id, score_base, created_epoch, from, to)
  local seq = redis.call('INCR', seq_key)
  local score = string.format('%.0f', tonumber(score_base) + seq)
  ARGV[from + 1] = score
  redis.call('HSET', task_key, unpack(ARGV, from, to))
  redis.call('ZADD', queue_key, score, task_id)
  redis.call('ZADD', user_tasks_key, created_epoch, task_id)
  redis.call('SADD', user_queued_key, task_id)
  return score
end

-- History: one stream entry per task transition, appended by the script that makes
-- the transition, so the record is as durable as the change itself. Only while the
-- stream exists (a history writer created it with its consumer group): without a
-- history store nothing accumulates. An entry is the task id, the transition, its
-- time and a snapshot of the hash fields the history keeps; `extra` (name, value,
-- ...) adds or overrides fields.
local HISTORY_FIELDS = {'task_type', 'user_id', 'priority', 'attempts', 'status', 'source',
  'created_at', 'admitted_at', 'started_at', 'completed_at', 'worker_host', 'reason', 'error',
  'error_type', 'exit_code', 'result', 'resources', 'retry_of', 'cancelled', 'cost'}

local function history(stream, task_key, task_id, kind, now, extra)
  if redis.call('EXISTS', stream) == 0 then return end
  local fields = {}
  local values = redis.call('HMGET', task_key, unpack(HISTORY_FIELDS))
  for i, name in ipairs(HISTORY_FIELDS) do
    if values[i] and values[i] ~= '' then fields[name] = values[i] end
  end
  for i = 1, #(extra or {}), 2 do
    if extra[i + 1] and extra[i + 1] ~= '' then fields[extra[i]] = extra[i + 1] end
  end
  local entry = {'task_id', task_id, 'kind', kind, 'at', iso_utc(now)}
  for name, value in pairs(fields) do entry[#entry + 1] = name; entry[#entry + 1] = value end
  redis.call('XADD', stream, '*', unpack(entry))
end

local function history_queued(stream, task_key, task_id, now)
  history(stream, task_key, task_id, 'queued', now, {'data', redis.call('HGET', task_key, 'data')})
end

-- An Idempotency-Key seen before: {'replayed', id} for the same request (same
-- fingerprint), {'mismatch', id} for another one; nil when the key is unused.
local function idempotency_seen(idem_key, fingerprint)
  if fingerprint == '' then return nil end
  local seen = redis.call('GET', idem_key)
  if not seen then return nil end
  local seen_id, seen_fingerprint = string.match(seen, '^(%S+) (%S+)$')
  if seen_fingerprint == fingerprint then return {'replayed', seen_id} end
  return {'mismatch', seen_id or ''}
end

local function remember_idempotency(idem_key, fingerprint, task_id, ttl)
  if fingerprint ~= '' then
    redis.call('SET', idem_key, task_id .. ' ' .. fingerprint, 'EX', tonumber(ttl))
  end
end

local function tail(from)
  local out = {}
  for i = from, #ARGV do out[#out + 1] = ARGV[i] end
  return out
end
"""

# Fixed-window counter: returns the milliseconds to wait, or 0 when allowed.
RATE_FN = r"""
local function rate_hit(key, limit, window)
  if tonumber(limit) <= 0 then return 0 end
  local count = redis.call('INCR', key)
  if count == 1 then redis.call('PEXPIRE', key, tonumber(window) * 1000) end
  if count > tonumber(limit) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then
      ttl = tonumber(window) * 1000
      redis.call('PEXPIRE', key, ttl)
    end
    return ttl
  end
  return 0
end

-- The milliseconds to wait if `n` more hits would exceed the limit, else 0;
-- writes nothing (a batch checks every user before counting any).
local function rate_room(key, limit, window, n)
  if tonumber(limit) <= 0 then return 0 end
  local count = tonumber(redis.call('GET', key) or '0')
  if count + n <= tonumber(limit) then return 0 end
  local ttl = redis.call('PTTL', key)
  if ttl < 0 then return tonumber(window) * 1000 end
  return ttl
end

local function rate_add(key, limit, window, n)
  if tonumber(limit) <= 0 then return end
  if redis.call('INCRBY', key, n) == n then redis.call('PEXPIRE', key, tonumber(window) * 1000) end
end
"""

RATE = (
    RATE_FN
    + r"""
-- KEYS: rate key. ARGV: limit, window seconds.
return rate_hit(KEYS[1], ARGV[1], ARGV[2])
"""
)

# KEYS: task, queue, sequence, user tasks, user queued, idempotency, rate, history stream.
# ARGV: 1 id, 2 score base, 3 created epoch, 4 request fingerprint ('' = no idempotency),
#       5 idempotency ttl, 6 max queued (0 = none), 7 rate limit (0 = none),
#       8 rate window, 9.. hash field/value pairs, opening with the score slot.
ENQUEUE = (
    RATE_FN
    + r"""
local wait = rate_hit(KEYS[7], ARGV[7], ARGV[8])
if wait > 0 then return {'rate', tostring(wait)} end
local seen = idempotency_seen(KEYS[6], ARGV[4])
if seen then return seen end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'exists', ARGV[1]} end
if tonumber(ARGV[6]) > 0 and redis.call('SCARD', KEYS[5]) >= tonumber(ARGV[6]) then
  return {'quota', ARGV[6]}
end
local score = write_task(KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2],
  ARGV[3], 9)
remember_idempotency(KEYS[6], ARGV[4], ARGV[1], ARGV[5])
history_queued(KEYS[8], KEYS[1], ARGV[1], tonumber(ARGV[3]))
return {'created', score}
"""
)

# All or none: every item is checked (idempotency, existence, per-user quota and
# rate, counting the batch's own items) before any is written; replayed items
# (same Idempotency-Key and request) return their earlier id and are not written.
# KEYS: 1 sequence, then BATCH_KEYS per item: task, queue, user tasks, user queued,
#       idempotency, rate; last the history stream.
# ARGV: 1 items, 2 created epoch, 3 idempotency ttl, 4 max queued (0 = none),
#       5 rate limit (0 = none), 6 rate window, then per item: id, score base,
#       fingerprint ('' = no idempotency), field count, the fields (score slot first).
# Returns {'ok', outcome1, id1, ...} with 'created' or 'replayed' per item, or
# {'refused', item number (1-based), reason, value}.
BATCH_ENQUEUE = (
    RATE_FN
    + r"""
local width = 6
local items, at = {}, 7
for i = 1, tonumber(ARGV[1]) do
  local k = 1 + (i - 1) * width
  local item = {id = ARGV[at], base = ARGV[at + 1], fingerprint = ARGV[at + 2],
    from = at + 4, to = at + 3 + tonumber(ARGV[at + 3]), task = KEYS[k + 1],
    queue = KEYS[k + 2], user_tasks = KEYS[k + 3], user_queued = KEYS[k + 4],
    idem = KEYS[k + 5], rate = KEYS[k + 6]}
  items[i] = item
  at = item.to + 1
end
local hits, queued, ids = {}, {}, {}
for i, item in ipairs(items) do
  hits[item.rate] = (hits[item.rate] or 0) + 1
  local wait = rate_room(item.rate, ARGV[5], ARGV[6], hits[item.rate])
  if wait > 0 then return {'refused', i, 'rate', tostring(wait)} end
  local seen = idempotency_seen(item.idem, item.fingerprint)
  if seen and seen[1] == 'mismatch' then return {'refused', i, 'mismatch', seen[2]} end
  item.replayed = seen and seen[2]
  if not item.replayed then
    if ids[item.id] or redis.call('EXISTS', item.task) == 1 then
      return {'refused', i, 'exists', item.id}
    end
    ids[item.id] = true
    if tonumber(ARGV[4]) > 0 then
      queued[item.user_queued] = (queued[item.user_queued]
        or redis.call('SCARD', item.user_queued)) + 1
      if queued[item.user_queued] > tonumber(ARGV[4]) then
        return {'refused', i, 'quota', ARGV[4]}
      end
    end
  end
end
local reply = {'ok'}
for _, item in ipairs(items) do
  if item.replayed then
    reply[#reply + 1], reply[#reply + 2] = 'replayed', item.replayed
  else
    write_task(item.task, item.queue, KEYS[1], item.user_tasks, item.user_queued, item.id,
      item.base, ARGV[2], item.from, item.to)
    remember_idempotency(item.idem, item.fingerprint, item.id, ARGV[3])
    history_queued(KEYS[#KEYS], item.task, item.id, tonumber(ARGV[2]))
    reply[#reply + 1], reply[#reply + 2] = 'created', item.id
  end
end
for key, n in pairs(hits) do rate_add(key, ARGV[5], ARGV[6], n) end
return reply
"""
)

# KEYS: queue, leases. ARGV: n, lease seconds, task prefix, user-queued prefix, now,
# max leased ('' = no cap; else at most that many leases of the type afterwards).
# Returns a flat list, 6 per id taken off the queue: id, status, spec, user id,
# created_at, tier. Only the ids whose status is 'pending' were leased; the caller drops
# the rest (a record that vanished or changed state while queued: nothing to run).
# One SORT ... BY nosort reads the best ids with their hash fields in queue order
# (Redis does the per-id lookups in C: no script call per id); the ids leave the
# queue with one ZREMRANGEBYRANK, enter the lease set with one ZADD, and the
# per-user queued sets lose them with one SREM per user. The queue score stays in
# the task hash, where a reclaim finds it. SORT's GET needs read access to all
# keys (ACL %R~*) and SORT is in @dangerous: a Redis user refused it gets the same
# rows from ZRANGE and one HMGET per id instead.
CLAIM = r"""
local function call_in_chunks(command, key, items)
  if #items <= 1000 then return redis.call(command, key, unpack(items)) end
  for first = 1, #items, 1000 do
    redis.call(command, key, unpack(items, first, math.min(first + 999, #items)))
  end
end
local n = tonumber(ARGV[1])
if ARGV[6] ~= '' then n = math.min(n, tonumber(ARGV[6]) - redis.call('ZCARD', KEYS[2])) end
if n <= 0 then return {} end
local prefix = ARGV[3]
local task = prefix .. '*->'
local rows = redis.pcall('SORT', KEYS[1], 'BY', 'nosort', 'LIMIT', 0, n,
  'GET', '#', 'GET', task .. 'status', 'GET', task .. 'spec', 'GET', task .. 'user_id',
  'GET', task .. 'created_at', 'GET', task .. 'tier')
if rows.err then
  local ids = redis.call('ZRANGE', KEYS[1], 0, n - 1)
  rows = {}
  for i, id in ipairs(ids) do
    local rec = redis.call('HMGET', prefix .. id, 'status', 'spec', 'user_id', 'created_at', 'tier')
    local at = 6 * (i - 1)
    rows[at + 1], rows[at + 2], rows[at + 3], rows[at + 4], rows[at + 5], rows[at + 6] =
      id, rec[1], rec[2], rec[3], rec[4], rec[5]
  end
end
if #rows == 0 then return rows end
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, #rows / 6 - 1)
local expiry = clock(ARGV[5]) + tonumber(ARGV[2])  -- a number: Redis formats it exactly
local leases, by_user, width = {}, {}, 0
for i = 1, #rows, 6 do
  local id, user = rows[i], rows[i + 3]
  if rows[i + 1] == 'pending' then
    leases[width + 1], leases[width + 2], width = expiry, id, width + 2
  end
  if user then  -- every id leaving the queue leaves its user's queued set
    local mine = by_user[user]
    if mine then mine[#mine + 1] = id else by_user[user] = {id} end
  end
end
if width > 0 then call_in_chunks('ZADD', KEYS[2], leases) end
for user, mine in pairs(by_user) do call_in_chunks('SREM', ARGV[4] .. user, mine) end
return rows
"""

# KEYS: leases, queue, cancel requests, history stream.
# ARGV: task prefix, user-queued prefix, now, record ttl, max per call.
RECLAIM = r"""
local now = clock(ARGV[3])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. fmt(now), 'LIMIT', 0,
  tonumber(ARGV[5]))
local requeued = 0
for _, id in ipairs(expired) do
  redis.call('ZREM', KEYS[1], id)
  local task_key = ARGV[1] .. id
  local rec = redis.call('HMGET', task_key, 'status', 'queue_score', 'user_id', 'cancel_requested')
  if rec[1] == 'pending' and rec[4] == '1' then
    redis.call('HSET', task_key, 'status', 'failed', 'error', 'cancelled by user',
      'error_type', 'Cancelled', 'cancelled', '1', 'completed_at', iso_utc(now))
    redis.call('EXPIRE', task_key, tonumber(ARGV[4]))
    redis.call('SREM', KEYS[3], id)
    history(KEYS[4], task_key, id, 'cancelled', now)
  elseif rec[1] == 'pending' and rec[2] then
    redis.call('ZADD', KEYS[2], rec[2], id)
    redis.call('HINCRBY', task_key, 'reclaims', 1)
    if rec[3] then redis.call('SADD', ARGV[2] .. rec[3], id) end
    requeued = requeued + 1
  end
end
return {requeued, #expired}
"""

# KEYS: leases. ARGV: id, lease seconds, now.
EXTEND_LEASE = r"""
local now = clock(ARGV[3])
return redis.call('ZADD', KEYS[1], 'XX', 'CH', fmt(now + tonumber(ARGV[2])), ARGV[1])
"""

# KEYS: task, cancel requests, history stream. ARGV: id, queue prefix, user-queued prefix, now,
# record ttl.
CANCEL = r"""
local rec = redis.call('HMGET', KEYS[1], 'status', 'task_type', 'user_id', 'queue')
if not rec[1] then return {'missing', ''} end
if is_terminal(rec[1]) then return {'finished', rec[1]} end
local queue = rec[4] or (ARGV[2] .. (rec[2] or ''))  -- a region task names its queue
if rec[1] == 'pending' and redis.call('ZREM', queue, ARGV[1]) == 1 then
  local now = clock(ARGV[4])
  redis.call('HSET', KEYS[1], 'status', 'failed', 'error', 'cancelled by user',
    'error_type', 'Cancelled', 'cancelled', '1', 'completed_at', iso_utc(now))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
  if rec[3] then redis.call('SREM', ARGV[3] .. rec[3], ARGV[1]) end
  history(KEYS[3], KEYS[1], ARGV[1], 'cancelled', now)
  return {'cancelled', 'failed'}
end
redis.call('HSET', KEYS[1], 'cancel_requested', '1')
redis.call('SADD', KEYS[2], ARGV[1])
return {'requested', rec[1]}
"""

# KEYS: dlq record, dlq index, then the ENQUEUE keys 1..5, the old task, history stream.
# ARGV: 1 old id, 2 expected record, 3 new id, 4 score base, 5 created epoch,
#       6.. fields, opening with the score slot.
RETRY_DEAD_LETTER = r"""
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return {'changed', ''} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'exists', ARGV[3]} end
local score = write_task(KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[3], ARGV[4],
  ARGV[5], 6)
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local now = tonumber(ARGV[5])
local new = redis.call('HMGET', KEYS[3], 'user_id', 'task_type', 'priority')
history(KEYS[9], KEYS[8], ARGV[1], 'retried', now,
  {'retried_as', ARGV[3], 'user_id', new[1], 'task_type', new[2], 'priority', new[3]})
history_queued(KEYS[9], KEYS[3], ARGV[3], now)
return {'created', score}
"""

# KEYS: task, history stream. ARGV: 1 started_at, 2 worker_host, 3 attempts, 4 now, 5 id,
# 6 error and 7 exit code of the last failed attempt ('' when unknown), 8 failed attempts
# so far (retried ones: the Job's failed pods).
# A first look at a running task, or more failed attempts than before, is a
# transition: 'running' and 'attempt_failed' per new failure (also for attempts
# that began and ended between two looks), then 'running' (the current attempt).
# Repeated looks record nothing.
MARK_PROCESSING = r"""
local rec = redis.call('HMGET', KEYS[1], 'status', 'failed_attempts')
local status = rec[1]
if not status then return 'missing' end
if is_terminal(status) then return 'terminal' end
local before = tonumber(rec[2]) or 0
local failed = tonumber(ARGV[8]) or 0
redis.call('HSET', KEYS[1], 'status', 'processing', 'started_at', ARGV[1],
  'worker_host', ARGV[2], 'attempts', ARGV[3], 'failed_attempts', math.max(before, failed))
if status ~= 'processing' or failed > before then
  local now = clock(ARGV[4])
  for attempt = before + 1, failed do
    -- An attempt never seen running (it began and failed between two looks) still
    -- gets its 'running', so every attempt reads running -> its end.
    if attempt > before + 1 or status ~= 'processing' then
      history(KEYS[2], KEYS[1], ARGV[5], 'running', now, {'attempt', tostring(attempt)})
    end
    local last = attempt == failed
    history(KEYS[2], KEYS[1], ARGV[5], 'attempt_failed', now, {'attempt', tostring(attempt),
      'attempt_error', last and ARGV[6] or '', 'attempt_exit_code', last and ARGV[7] or ''})
  end
  history(KEYS[2], KEYS[1], ARGV[5], 'running', now, {'attempt', tostring(failed + 1)})
end
return 'ok'
"""

# KEYS: task, history stream. ARGV: 1 id, 2 admitted_at, 3 resources (JSON), 4 now.
# The Job exists: the task holds a concurrency slot. Recorded once per task.
MARK_ADMITTED = r"""
local rec = redis.call('HMGET', KEYS[1], 'status', 'admitted_at')
if not rec[1] then return 'missing' end
if is_terminal(rec[1]) then return 'terminal' end
if rec[2] and rec[2] ~= '' then return 'ok' end
redis.call('HSET', KEYS[1], 'admitted_at', ARGV[2], 'resources', ARGV[3])
history(KEYS[2], KEYS[1], ARGV[1], 'admitted', clock(ARGV[4]))
return 'ok'
"""

# KEYS: task, cancel requests, history stream, cost index.
# ARGV: 1 id, 2 status, 3 completions prefix, 4 ttl, 5 now, 6 throughput window,
#       7 cost index retention, 8 cost in micro-units ('' = none), 9.. field/value pairs.
MARK_FINISHED = r"""
local rec = redis.call('HMGET', KEYS[1], 'status', 'task_type', 'user_id')
if not rec[1] then return 'missing' end
if is_terminal(rec[1]) then return 'terminal' end
local now = clock(ARGV[5])
local fields = tail(9)
fields[#fields + 1] = 'status'
fields[#fields + 1] = ARGV[2]
redis.call('HSET', KEYS[1], unpack(fields))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('SREM', KEYS[2], ARGV[1])
local done = ARGV[3] .. (rec[2] or '')
redis.call('ZADD', done, fmt(now), ARGV[1])
redis.call('ZREMRANGEBYSCORE', done, '-inf', '(' .. fmt(now - tonumber(ARGV[6])))
if ARGV[8] ~= '' then
  -- The cost index: one member per finished task, "id type user micros", at its end.
  local member = ARGV[1] .. ' ' .. (rec[2] or '') .. ' ' .. (rec[3] or '') .. ' ' .. ARGV[8]
  redis.call('ZADD', KEYS[4], fmt(now), member)
  redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', '(' .. fmt(now - tonumber(ARGV[7])))
end
local kind = 'succeeded'
if ARGV[2] ~= 'completed' then
  kind = redis.call('HGET', KEYS[1], 'cancelled') == '1' and 'cancelled' or 'failed'
end
history(KEYS[3], KEYS[1], ARGV[1], kind, now)
return 'ok'
"""

# KEYS: task, user tasks, history stream. ARGV: created epoch, id, field/value pairs from 3.
ENSURE_RECORD = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(tail(3)))
redis.call('ZADD', KEYS[2], ARGV[1], ARGV[2])
history_queued(KEYS[3], KEYS[1], ARGV[2], tonumber(ARGV[1]))
return 1
"""

# KEYS: schedules, schedule changes, revision counter, the new owner's schedule set, the old
# owner's. ARGV: name, mode (create | update | delete), the record the caller read (update,
# delete), the new record (create, update), the new owner's cap. Desired state, the owners'
# sets and the bridge's to-do entry change together, or not at all.
SCHEDULE_WRITE = r"""
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] == 'create' then
  if current then return 'exists' end
else
  if not current then return 'missing' end
  if current ~= ARGV[3] then return 'changed' end
end
if ARGV[2] ~= 'delete' and redis.call('SISMEMBER', KEYS[4], ARGV[1]) == 0
    and redis.call('SCARD', KEYS[4]) >= tonumber(ARGV[5]) then
  return 'full'
end
if ARGV[2] ~= 'create' then redis.call('SREM', KEYS[5], ARGV[1]) end
if ARGV[2] == 'delete' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[4])
  redis.call('SADD', KEYS[4], ARGV[1])
end
redis.call('HSET', KEYS[2], ARGV[1], redis.call('INCR', KEYS[3]))
return 'ok'
"""

# KEYS: schedule changes. ARGV: name, the revision the bridge applied. A change made
# meanwhile has a newer revision and stays for the next pass.
SCHEDULE_SETTLED = r"""
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""
