"""The Lua scripts behind :class:`~vlmroute._store.redis_slots.RedisSlots`.

Every change to shared state is one script, so it is atomic: no other client's command runs
between a script's check and its write. Each script reads the time from Redis ``TIME``, never
from the client, so hosts with skewed clocks agree on when a lease expires.

A scope is the account behind an offer; its keys share the prefix ``{namespace}:{scope}:``,
and the scripts take scopes by that prefix (``KEYS``):

``leases``  sorted set: member = lease token, score = expiry (ms). Its size is the number of
            slots taken on the account, by every process.
``queue``   sorted set: member = ticket (the waiting request's token), score = arrival (µs).
``beats``   sorted set: member = ticket, score = when its heartbeat lapses (ms). A waiter
            renews it each time it asks; a dead waiter's ticket lapses and is dropped.
``wants``   hash: ticket -> "<tokens> <prefix> <prefix>...": what the request needs from a
            bucket, and every scope it queues on (to take its ticket out of all of them).
``bucket``  hash: the RPM and TPM token buckets (``rpm:level``, ``rpm:at``, ``tpm:...``).
``wake``    the pub/sub channel: ``grant <ticket>...`` (a slot was handed to these waiters)
            or ``wake <ticket>`` (ask again: the cap is unknown here, or a bucket is empty).

Fairness. A request takes a slot only if the older tickets would each still find one:
``held + ahead < cap``, ``ahead`` being the live tickets older than its own (all of them for
a request that has not queued yet). So nobody jumps a waiting request, in this process or
another, and a dead waiter's ticket holds back one slot until its heartbeat lapses.

Hand-over. A script that frees a slot (a release, a lapsed lease it purged, a ticket it
removed) gives it to the oldest ticket at once (:func:`settle`): the lease is written in the
waiter's name and its tickets removed from every scope, and one message tells it. A waiter
thus costs no call after its first, and a release wakes only whom it serves. A waiter that
misses the message (pub/sub does not queue) finds its lease when it next asks (its heartbeat),
since ACQUIRE first returns any lease already held under the request's token.

The scripts build key names from the prefixes, and a hand-over touches the queues of the
waiter's other scopes: they need one Redis (a primary with replicas will do), not a Cluster.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "LEAVE", "REMEMBER", "RENEW", "SPEND"]

_PRELUDE = """
local t = redis.call('TIME')
local NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ARRIVAL = tonumber(t[1]) * 1000000 + tonumber(t[2])
local LEASE_MS = tonumber(ARGV[1])  -- every script's first argument

-- A token bucket of `limit` a minute, full when absent (it expires after 2 idle minutes).
local function level(p, name, limit)
  local v = redis.call('HMGET', p .. 'bucket', name .. ':level', name .. ':at')
  local have, at = tonumber(v[1]), tonumber(v[2])
  if have == nil or at == nil then return limit end
  return math.min(limit, have + (NOW - at) * limit / 60000)
end

-- Milliseconds until `amount` fits (over the capacity: until the bucket is full); 0 = now.
local function bucket_wait(p, name, limit, amount)
  if limit <= 0 then return 0 end
  local need = math.min(amount, limit) - level(p, name, limit)
  if need <= 0 then return 0 end
  return math.ceil(need * 60000 / limit)
end

local function buckets_wait(p, rpm, tpm, amount)
  return math.max(bucket_wait(p, 'rpm', rpm, 1), bucket_wait(p, 'tpm', tpm, amount))
end

local function bucket_take(p, name, limit, amount)
  if limit <= 0 then return end
  local left = level(p, name, limit) - math.min(amount, limit)
  redis.call('HSET', p .. 'bucket', name .. ':level', left, name .. ':at', NOW)
  redis.call('PEXPIRE', p .. 'bucket', 120000)
end

-- Write the lease of `token`, and charge the buckets.
local function take(p, rpm, tpm, amount, token)
  bucket_take(p, 'rpm', rpm, 1)
  bucket_take(p, 'tpm', tpm, amount)
  redis.call('ZADD', p .. 'leases', NOW + LEASE_MS, token)
end

-- Take a ticket out of one scope's queue; 1 if it was there.
local function unqueue(p, ticket)
  redis.call('ZREM', p .. 'beats', ticket)
  redis.call('HDEL', p .. 'wants', ticket)
  return redis.call('ZREM', p .. 'queue', ticket)
end

-- Drop expired leases and lapsed tickets; how many went.
local function purge(p)
  local gone = redis.call('ZREMRANGEBYSCORE', p .. 'leases', '-inf', NOW)
  local stale = redis.call('ZRANGEBYSCORE', p .. 'beats', '-inf', NOW)
  for _, ticket in ipairs(stale) do unqueue(p, ticket) end
  return gone + #stale
end

-- Hand free slots to the oldest tickets, in order, and tell them. A caller that sees the
-- offer paused (cap 0) does not know the account's cap: it wakes the head to ask instead,
-- as it does when the head's bucket is empty (the head then learns when it refills).
local function settle(p, cap, rpm, tpm)
  local granted = {}
  while true do
    local head = redis.call('ZRANGE', p .. 'queue', 0, 0)[1]
    if not head or (cap > 0 and redis.call('ZCARD', p .. 'leases') >= cap) then break end
    local want = {}
    for word in string.gmatch(redis.call('HGET', p .. 'wants', head) or '0', '%S+') do
      want[#want + 1] = word
    end
    local amount = tonumber(want[1]) or 0
    if cap <= 0 or buckets_wait(p, rpm, tpm, amount) > 0 then
      redis.call('PUBLISH', p .. 'wake', 'wake ' .. head)
      break
    end
    take(p, rpm, tpm, amount, head)
    unqueue(p, head)
    for k = 2, #want do unqueue(want[k], head) end
    granted[#granted + 1] = head
  end
  if #granted > 0 then
    redis.call('PUBLISH', p .. 'wake', 'grant ' .. table.concat(granted, ' '))
  end
end
"""

#: Take a slot on the first of the ranked offers that has one, else queue on all of them.
#:
#: KEYS: the scope prefix of each offer, in rank order.
#: ARGV: lease ms, token, ticket ms, tokens of the request, queued (1: it asked before, so
#: its ticket's age counts), then 3 per offer: cap (this process's view; 0 = take nothing
#: there now), rpm, tpm (0 = none).
#: Returns {index of the offer granted (1-based) or 0, ms until asking again may help or -1,
#: leases held on the granted offer's account now, this one included}: the ms are until the
#: soonest bucket refill, or the soonest lease expiry where the request is next in line (so a
#: lease left by a killed process is taken the moment it lapses, not a heartbeat later).
ACQUIRE = (
    _PRELUDE
    + """
local token, ticket_ms = ARGV[2], tonumber(ARGV[3])
local amount, queued = tonumber(ARGV[4]), ARGV[5] == '1'
local function cap(i) return tonumber(ARGV[3 + 3 * i]) end
local function rpm(i) return tonumber(ARGV[4 + 3 * i]) end
local function tpm(i) return tonumber(ARGV[5 + 3 * i]) end

for i, p in ipairs(KEYS) do  -- older waiters first: slots that lapsed go to them
  if purge(p) > 0 then settle(p, cap(i), rpm(i), tpm(i)) end
end
for i, p in ipairs(KEYS) do  -- handed over already, or a retried call that had won
  if redis.call('ZSCORE', p .. 'leases', token) then
    return {i, -1, redis.call('ZCARD', p .. 'leases')}
  end
end

local granted, wait = 0, -1
local function soonest(ms) if wait < 0 or ms < wait then wait = ms end end
for i, p in ipairs(KEYS) do
  if cap(i) > 0 then
    local held = redis.call('ZCARD', p .. 'leases')
    local ahead = false
    if queued then ahead = redis.call('ZRANK', p .. 'queue', token) end
    if not ahead then ahead = redis.call('ZCARD', p .. 'queue') end
    if held + ahead < cap(i) then
      local ms = buckets_wait(p, rpm(i), tpm(i), amount)
      if ms == 0 then granted = i break end
      soonest(ms)
    elseif ahead < cap(i) then
      local first = redis.call('ZRANGE', p .. 'leases', 0, 0, 'WITHSCORES')
      if #first == 2 then soonest(math.max(1, tonumber(first[2]) - NOW + 1)) end
    end
  end
end

if granted > 0 then
  take(KEYS[granted], rpm(granted), tpm(granted), amount, token)
  for i, p in ipairs(KEYS) do  -- out of every queue; those behind may move up
    if unqueue(p, token) == 1 then settle(p, cap(i), rpm(i), tpm(i)) end
  end
  return {granted, -1, redis.call('ZCARD', KEYS[granted] .. 'leases')}
end

local scopes = {}
for i, p in ipairs(KEYS) do
  if cap(i) > 0 then scopes[#scopes + 1] = p end
end
local want = amount .. ' ' .. table.concat(scopes, ' ')
for i, p in ipairs(KEYS) do
  if cap(i) > 0 then
    redis.call('ZADD', p .. 'queue', 'NX', ARRIVAL, token)
    redis.call('ZADD', p .. 'beats', NOW + ticket_ms, token)
    redis.call('HSET', p .. 'wants', token, want)
  elseif unqueue(p, token) == 1 then
    settle(p, cap(i), rpm(i), tpm(i))
  end
end
return {0, wait, 0}
"""
)

#: Give back a lease and take a ticket out of line: a release, or a waiter giving up.
#: Either way what it frees is handed to the next in line.
#:
#: KEYS: scope prefixes. ARGV: lease ms, token, then 3 per scope: cap, rpm, tpm.
#: Returns how many entries (leases, tickets) it removed.
LEAVE = (
    _PRELUDE
    + """
local token, removed = ARGV[2], 0
for i, p in ipairs(KEYS) do
  local here = redis.call('ZREM', p .. 'leases', token) + unqueue(p, token)
  if here + purge(p) > 0 then
    settle(p, tonumber(ARGV[3 * i]), tonumber(ARGV[3 * i + 1]), tonumber(ARGV[3 * i + 2]))
  end
  removed = removed + here
end
return removed
"""
)

#: Push the expiry of every lease this process holds one TTL ahead.
#:
#: KEYS: the leases set of each lease. ARGV: lease ms, then each lease's token.
#: A lease that is gone (Redis restarted and lost it, or it lapsed while this process was
#: stalled) is added back, since its request is still in flight; the client never renews a
#: lease whose release may be on its way (see ``RedisSlots._renew``). Returns how many it added
#: back.
RENEW = (
    _PRELUDE
    + """
local restored = 0
for i, leases in ipairs(KEYS) do
  restored = restored + redis.call('ZADD', leases, NOW + LEASE_MS, ARGV[i + 1])
end
return restored
"""
)


#: Add spend to budget periods' running totals, and tell every process the new totals.
#:
#: KEYS: the total of each budget period. ARGV: the channel, the totals' TTL (ms), then each
#: amount in nano-units of its currency (integers, so totals add exactly).
#: Returns the new totals. Each message is ``spend <key> <total>``: a total, not an amount,
#: so a receiver keeps the largest it saw and a late or repeated message changes nothing.
SPEND = """
local totals = {}
for i, key in ipairs(KEYS) do
  local total = redis.call('INCRBY', key, ARGV[2 + i])
  redis.call('PEXPIRE', key, ARGV[2])
  redis.call('PUBLISH', ARGV[1], 'spend ' .. key .. ' ' .. total)
  totals[#totals + 1] = total
end
return totals
"""


#: Keep the cap an account was last learned to take, for processes that start later (the
#: pub/sub message that told the others is gone by then).
#:
#: KEYS: the account's ``cap`` key. ARGV: the cap, its TTL (ms). Returns 1.
REMEMBER = """
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
