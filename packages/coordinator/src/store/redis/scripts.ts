/**
 * The Redis store's Lua scripts: each checks, in the same atomic step, that its round is the
 * round in progress, then writes; 1 = added, 0 = duplicate, −1 = wrong round. A script touches
 * only the keys it is passed in KEYS (never a name built in Lua), and those all carry the store's
 * hash tag (keys.ts), so on Redis Cluster each script runs within one hash slot.
 */

/**
 * Replies: 1 added, 0 duplicate, -1 not the round in progress, -2 full (count.max), -3 closed (the
 * round is no longer in the message's phase). The phase and count checks are what let several
 * coordinator instances share one store (ADR 0008): the store, not an instance's memory, decides.
 */
export const SCRIPTS = {
  /** KEYS: current, phase, sums. ARGV: roundId, participant, ephemeral pk, max. */
  petflAddSumParticipant: {
    numberOfKeys: 3,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] .. ':sum' then return -3 end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return 0 end
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[4]) then return -2 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 1`,
  },
  /**
   * KEYS: current, phase, updates, seed index, instances, the instance's log, then one seeds hash
   * per sum participant. ARGV: roundId, participant, max, instance, masked model bytes, then
   * (sum pk, encrypted seed) pairs in the order of the seeds keys.
   */
  petflAddUpdate: {
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] .. ':update' then return -3 end
if redis.call('SISMEMBER', KEYS[3], ARGV[2]) == 1 then return 0 end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[3]) then return -2 end
redis.call('SADD', KEYS[3], ARGV[2])
for i = 7, #KEYS do
  local n = (i - 6) * 2
  redis.call('SADD', KEYS[4], ARGV[n + 4])
  redis.call('HSET', KEYS[i], ARGV[2], ARGV[n + 5])
end
redis.call('SADD', KEYS[5], ARGV[4])
redis.call('RPUSH', KEYS[6], ARGV[5])
return 1`,
  },
  /**
   * KEYS: current, instances, the instance's partial, its log. ARGV: roundId, instance, model count,
   * encoded aggregate. 1 saved (the log emptied), 0 behind (the store holds more of the instance's
   * updates than the checkpoint covers), -1 not the round, -4 ahead (more than were logged).
   */
  petflCheckpoint: {
    numberOfKeys: 4,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local logged = tonumber(redis.call('HGET', KEYS[3], 'models') or '0') + redis.call('LLEN', KEYS[4])
local models = tonumber(ARGV[3])
if models < logged then return 0 end
if models > logged then return -4 end
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('HSET', KEYS[3], 'mask', ARGV[4], 'models', ARGV[3])
redis.call('DEL', KEYS[4])
return 1`,
  },
  /**
   * One chunk of a multipart message (protocol.md §3.7), the rules of core's ChunkAssembler kept
   * in Redis so that the chunks of one message may reach different instances (ADR 0008).
   * KEYS: current, phase, the participant's chunks hash, the phase's chunk-bytes hash, the
   * phase's chunk index. ARGV: roundId, `<id>:<phase>`, participant, tag, messageId, index, last
   * (1/0), data, cost, max bytes per participant, max bytes in total, max chunks per message.
   * Replies: {1, data…} complete (the chunks in order), {0} held, {2} a retry of a chunk held,
   * {-1} not the round, {-3} closed, {-10 … -19, detail} refused (see redis-store.ts addChunk).
   */
  petflAddChunk: {
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1} end
if redis.call('GET', KEYS[2]) ~= ARGV[2] then return {-3} end
local tag, mid, index = ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local isLast, cost = ARGV[7] == '1', tonumber(ARGV[9])
local meta = redis.call('HMGET', KEYS[3], 'tag', 'mid', 'last', 'highest', 'bytes', 'count')
local function drop()
  if meta[5] then redis.call('HINCRBY', KEYS[4], 'total', -tonumber(meta[5])) end
  redis.call('DEL', KEYS[3])
  redis.call('SREM', KEYS[5], ARGV[3])
end
local exists = meta[2] and tonumber(meta[2]) == mid
if exists and meta[1] ~= tag then return {-11, meta[1]} end
if exists then
  local held = redis.call('HGET', KEYS[3], 'c' .. index)
  if held then
    if held == ARGV[8] then return {2} end
    return {-12}
  end
end
if not exists and index ~= 0 then return {-10} end
local last = exists and meta[3] ~= '' and tonumber(meta[3]) or nil
local highest = exists and tonumber(meta[4]) or -1
if isLast then
  if last then return {-13, last} end
  if highest > index then return {-14, highest} end
else
  if last and index > last then return {-15, last} end
  if index == 65535 then return {-16} end
end
if index >= tonumber(ARGV[12]) then
  if exists then drop() end
  return {-17}
end
if not exists and meta[2] then drop() end
local heldBy = exists and tonumber(meta[5]) or 0
local total = tonumber(redis.call('HGET', KEYS[4], 'total') or '0')
if not exists then heldBy = 0 end
if heldBy + cost > tonumber(ARGV[10]) then
  if exists then drop() end
  return {-18, heldBy + cost}
end
if total + cost > tonumber(ARGV[11]) then
  if exists then drop() end
  return {-19, total + cost}
end
if isLast then last = index end
if index > highest then highest = index end
local count = (exists and tonumber(meta[6]) or 0) + 1
redis.call('HSET', KEYS[3], 'c' .. index, ARGV[8], 'tag', tag, 'mid', mid, 'last', last or '',
  'highest', highest, 'bytes', heldBy + cost, 'count', count)
redis.call('HINCRBY', KEYS[4], 'total', cost)
redis.call('SADD', KEYS[5], ARGV[3])
if last and count == last + 1 then
  local out = {1}
  for i = 0, last do out[#out + 1] = redis.call('HGET', KEYS[3], 'c' .. i) end
  redis.call('HINCRBY', KEYS[4], 'total', -(heldBy + cost))
  redis.call('DEL', KEYS[3])
  redis.call('SREM', KEYS[5], ARGV[3])
  return out
end
return {0}`,
  },
  /**
   * KEYS: current, subjects, identity counts. ARGV: roundId, participant, subject, max.
   * 1 bound (now or before), -1 not the round, -6 bound to another subject, -7 the subject has max keys.
   */
  petflBindSubject: {
    numberOfKeys: 3,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local bound = redis.call('HGET', KEYS[2], ARGV[2])
if bound then
  if bound == ARGV[3] then return 1 end
  return -6
end
if tonumber(redis.call('HGET', KEYS[3], ARGV[3]) or '0') >= tonumber(ARGV[4]) then return -7 end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
return 1`,
  },
  /** KEYS: current, phase, sum2, mask counts, masks. ARGV: roundId, participant, mask hash, encoded mask, max. */
  petflAddMask: {
    numberOfKeys: 5,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('GET', KEYS[2]) ~= ARGV[1] .. ':sum2' then return -3 end
if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return 0 end
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[5]) then return -2 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
redis.call('HINCRBY', KEYS[4], ARGV[3], 1)
redis.call('HSETNX', KEYS[5], ARGV[3], ARGV[4])
return 1`,
  },
  /**
   * KEYS: leader, leader token. ARGV: instance, ttl ms. The fencing token while `instance` holds
   * the lease (renewed for ttl), -1 while another instance does.
   */
  petflLease: {
    numberOfKeys: 2,
    lua: `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return tonumber(redis.call('GET', KEYS[2]) or '0')
end
if holder then return -1 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return redis.call('INCR', KEYS[2])`,
  },
  /** KEYS: leader. ARGV: instance. */
  petflReleaseLease: {
    numberOfKeys: 1,
    lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`,
  },
  /** KEYS: current, phase, round record, leader token. ARGV: roundId, record JSON, phase, fence ('' = none). */
  petflSaveRound: {
    numberOfKeys: 4,
    lua: `
if ARGV[4] ~= '' and redis.call('GET', KEYS[4]) ~= ARGV[4] then return -5 end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[3], ARGV[2])
redis.call('SET', KEYS[2], ARGV[1] .. ':' .. ARGV[3])
return 1`,
  },
} as const;

/** The client once the scripts are defined (ioredis adds them as methods at run time). */
export interface ScriptedRedis {
  petflAddSumParticipant(
    current: string,
    phase: string,
    sums: string,
    roundId: string,
    participantPk: string,
    ephemeralPk: Buffer,
    max: string,
  ): Promise<number>;
  petflAddUpdate(numberOfKeys: number, ...keysAndArgs: (string | Buffer)[]): Promise<number>;
  petflCheckpoint(
    current: string,
    instances: string,
    partial: string,
    log: string,
    roundId: string,
    instance: string,
    modelCount: string,
    encoded: Buffer,
  ): Promise<number>;
  petflAddMask(
    current: string,
    phase: string,
    sum2: string,
    maskCounts: string,
    masks: string,
    roundId: string,
    participantPk: string,
    maskHash: string,
    encodedMask: Buffer,
    max: string,
  ): Promise<number>;
  petflSaveRound(
    current: string,
    phase: string,
    round: string,
    leaderToken: string,
    roundId: string,
    record: string,
    phaseName: string,
    fence: string,
  ): Promise<number>;
  petflLease(leader: string, leaderToken: string, instance: string, ttlMs: string): Promise<number>;
  petflBindSubject(
    current: string,
    subjects: string,
    identityCounts: string,
    roundId: string,
    participantPk: string,
    subject: string,
    max: string,
  ): Promise<number>;
  petflAddChunkBuffer(numberOfKeys: number, ...keysAndArgs: (string | Buffer)[]): Promise<(number | Buffer)[]>;
  petflReleaseLease(leader: string, instance: string): Promise<number>;
}
