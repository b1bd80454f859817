/**
 * The two Lua scripts of the shared store: one atomic call per decision (Redis runs a script alone). Both
 * take the same four keys of one key's limits, all under one hash tag (`{iproxy:<name>}`), so that they
 * land in one slot of a Redis Cluster; time is Redis's own (TIME), so the instances' clocks do not matter
 * for the rates. The rates are GCRA as in gcra.ts: the key holds the theoretical arrival time (ms).
 *
 * KEYS: 1 rpm TAT, 2 tpm TAT, 3 budget used (one key per period), 4 parallel holders (a hash: field <instance>
 * = slots held, field <instance>:t = when that holding expires, renewed by every call of the instance; a
 * dead instance's slots free themselves when it expires).
 *
 * take ARGV: instance, holding ttl ms, then per limit (0s for a limit the key does not have):
 *   rpm want, need, amount, per ms; tpm want, need, amount, per ms; budget want, need, total, expire-at ms;
 *   parallel want, need, max, slots this instance holds now.
 * It grants, for every limit, between `need` and `want` units (beyond the need, only what is free beyond
 * half the limit, 1% of a budget: LEASE_FLOOR_FRACTION in allowance.ts), or nothing at all when one limit
 * cannot give its `need`. Returns
 *   {ok, failed limit (1 rpm, 2 tpm, 3 budget, 4 parallel; 0), retry ms (-1: never, -2: at the budget's
 *    period end), rpm granted, remaining, reset ms, tpm granted, remaining, reset ms, budget granted, left,
 *    parallel granted}.
 *
 * give ARGV: instance, holding ttl ms, rpm units, amount, per; tpm units, amount, per; budget units,
 * expire-at; parallel slots this instance holds from now on (-1: no parallel limit). Positive units go back (unspent leases, refunds), negative ones are charged
 * (usage beyond a reservation); returns nothing.
 */
const COMMON = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local inst = ARGV[1]
local ttl = tonumber(ARGV[2])

local function tat_of(key)
  return tonumber(redis.call('GET', key) or '0') or 0
end

local function store_tat(key, tat, per)
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now + per)))
end

-- The live slots of every other instance (expired holdings are removed on the way).
local function others(key)
  local fields = redis.call('HGETALL', key)
  local total = 0
  local held = {}
  for i = 1, #fields, 2 do held[fields[i]] = fields[i + 1] end
  for who, value in pairs(held) do
    if string.sub(who, -2) ~= ':t' and who ~= inst then
      local expires = tonumber(held[who .. ':t'] or '0') or 0
      if expires <= now then
        redis.call('HDEL', key, who, who .. ':t')
      else
        total = total + tonumber(value)
      end
    end
  end
  return total
end

local function hold(key, slots)
  if slots > 0 then
    redis.call('HSET', key, inst, slots, inst .. ':t', now + ttl)
    redis.call('PEXPIRE', key, ttl * 2)
  else
    redis.call('HDEL', key, inst, inst .. ':t')
  end
end
`;

export const TAKE_SCRIPT = `${COMMON}
local a = {}
for i = 3, #ARGV do a[i - 2] = tonumber(ARGV[i]) end
local rates = { { key = KEYS[1], want = a[1], need = a[2], amount = a[3], per = a[4] },
                { key = KEYS[2], want = a[5], need = a[6], amount = a[7], per = a[8] } }
local out = { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

for _, r in ipairs(rates) do
  if r.amount > 0 then
    r.interval = r.per / r.amount
    r.base = math.max(tat_of(r.key), now)
    r.free = math.floor((now + r.per - r.base) / r.interval + 1e-6)
  end
end
for i, r in ipairs(rates) do
  if out[1] == 1 and r.amount > 0 and r.want > 0 and r.free < r.need then
    local retry = -1
    if r.need <= r.amount then retry = math.ceil(r.base + r.need * r.interval - r.per - now) end
    out[1] = 0; out[2] = i; out[3] = retry
  end
end

local budget_used = 0
local budget_total = a[11]
if budget_total > 0 then budget_used = tonumber(redis.call('GET', KEYS[3]) or '0') or 0 end
if out[1] == 1 and budget_total > 0 and a[9] > 0 then
  if budget_used + a[10] > budget_total then
    out[1] = 0; out[2] = 3
    if a[10] > budget_total then out[3] = -1 else out[3] = -2 end
  end
end

-- Parallel slots: the other instances' live holdings plus this one's own count (a[16]), which it knows
-- better than Redis does (after a Redis restart Redis knows none).
local par_total = 0
if a[15] > 0 then
  par_total = others(KEYS[4]) + a[16]
  if out[1] == 1 and a[13] > 0 and par_total + a[14] > a[15] then out[1] = 0; out[2] = 4; out[3] = 1000 end
end

for i, r in ipairs(rates) do
  if r.amount > 0 then
    local granted = 0
    if out[1] == 1 and r.want > 0 then
      granted = r.need + math.max(0, math.min(r.want - r.need, r.free - r.need - math.ceil(r.amount * 0.5)))
      r.base = r.base + granted * r.interval
      store_tat(r.key, r.base, r.per)
    end
    out[1 + i * 3] = granted
    out[2 + i * 3] = math.max(0, math.floor((now + r.per - r.base) / r.interval + 1e-6))
    out[3 + i * 3] = math.ceil(r.base - now)
  end
end

if budget_total > 0 then
  local granted = 0
  if out[1] == 1 and a[9] > 0 then
    granted = a[10] + math.max(0, math.min(a[9] - a[10], budget_total - budget_used - a[10] - math.ceil(budget_total * 0.01)))
    redis.call('INCRBY', KEYS[3], granted)
    redis.call('PEXPIREAT', KEYS[3], a[12])
  end
  out[10] = granted
  out[11] = math.max(0, budget_total - budget_used - granted)
end

if a[15] > 0 then
  local granted = 0
  if out[1] == 1 and a[13] > 0 then granted = a[14] + math.max(0, math.min(a[13] - a[14], a[15] - par_total - a[14] - math.ceil(a[15] * 0.5))) end
  hold(KEYS[4], a[16] + granted)
  out[12] = granted
end
return out
`;

export const GIVE_SCRIPT = `${COMMON}
local a = {}
for i = 3, #ARGV do a[i - 2] = tonumber(ARGV[i]) end
local rates = { { key = KEYS[1], units = a[1], amount = a[2], per = a[3] },
                { key = KEYS[2], units = a[4], amount = a[5], per = a[6] } }
for _, r in ipairs(rates) do
  if r.amount > 0 and r.units ~= 0 then
    local interval = r.per / r.amount
    local tat = tat_of(r.key)
    if r.units > 0 then tat = math.max(tat - r.units * interval, now) else tat = math.max(tat, now) - r.units * interval end
    store_tat(r.key, tat, r.per)
  end
end
if a[7] ~= 0 and redis.call('EXISTS', KEYS[3]) == 1 then
  -- Only a period still counted takes units back or further charges (it may have expired meanwhile).
  local used = redis.call('DECRBY', KEYS[3], a[7])
  if used < 0 then redis.call('SET', KEYS[3], 0, 'KEEPTTL') end
end
if a[9] >= 0 then hold(KEYS[4], a[9]) end
return 1
`;
