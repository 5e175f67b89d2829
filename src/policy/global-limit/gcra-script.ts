// The Redis side of Global rate limits: one GCRA bucket per (limit, key), leased out in batches
// by one atomic Lua script (EVALSHA through ioredis defineCommand, which falls back to EVAL on
// NOSCRIPT, e.g. after Redis restarted). Time is Redis's own clock (TIME), so the instances'
// clocks need not agree. Redis ≥ 5 (scripts replicate effects, so TIME is allowed).
//
// State: the theoretical arrival time TAT in ms (fractional, stored with µs precision; tostring
// would print 14 significant digits and lose the ms of an epoch timestamp). The key expires when
// the bucket would be full again, so idle keys cost Redis nothing.
//
// KEYS[1] bucket key
// ARGV[1] T, emission interval = period / L, ms (fractional)
// ARGV[2] L, burst (requests per period)
// ARGV[3] want: tokens asked for (≥ 1)
// ARGV[4] back: unspent tokens given back first (expired leases), ≥ 0
// Returns { granted, remaining, resetMs, retryMs }:
//   granted    0..want (as many as the bucket holds)
//   remaining  tokens left in the bucket after this grant
//   resetMs    ms until the bucket is full again
//   retryMs    ms until one more token is available (0 when remaining > 0)
export const GCRA_LEASE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local T = tonumber(ARGV[1])
local L = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local back = tonumber(ARGV[4])
local period = T * L
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local changed = false
if back > 0 then
  tat = math.max(now, tat - back * T)
  changed = true
end
local avail = math.floor((now + period - tat) / T + 1e-6)
local granted = want
if granted > avail then granted = avail end
if granted < 0 then granted = 0 end
if granted > 0 then
  tat = tat + granted * T
  changed = true
end
if changed then
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil(tat - now) + 1)
end
local remaining = avail - granted
if remaining < 0 then remaining = 0 end
local retry = 0
if remaining == 0 then retry = math.max(1, math.ceil(tat + T - period - now)) end
return { granted, remaining, math.ceil(tat - now), retry }
`;
