/**
 * The Redis store's Lua scripts: each checks, in the same atomic step, that its round is the
 * round in progress, then writes; 1 = added, 0 = duplicate, −1 = wrong round.
 */

export const SCRIPTS = {
  /** KEYS: current, sums. ARGV: roundId, participant, ephemeral pk. */
  petflAddSumParticipant: {
    numberOfKeys: 2,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
return redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3])`,
  },
  /**
   * KEYS: current, updates, aggregate, seed index, then one seeds hash per sum participant.
   * ARGV: roundId, participant, aggregate bytes, model count, then (sum pk, encrypted seed) pairs
   * in the order of the seeds keys.
   */
  petflAddUpdate: {
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('SADD', KEYS[2], ARGV[2])
for i = 5, #KEYS do
  local n = (i - 4) * 2
  redis.call('SADD', KEYS[4], ARGV[n + 3])
  redis.call('HSET', KEYS[i], ARGV[2], ARGV[n + 4])
end
redis.call('HSET', KEYS[3], 'mask', ARGV[3], 'models', ARGV[4])
return 1`,
  },
  /** KEYS: current, sum2, mask counts, masks. ARGV: roundId, participant, mask hash, encoded mask. */
  petflAddMask: {
    numberOfKeys: 4,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
if redis.call('HSETNX', KEYS[2], ARGV[2], ARGV[3]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[3], ARGV[3], 1)
redis.call('HSETNX', KEYS[4], ARGV[3], ARGV[4])
return 1`,
  },
  /** KEYS: current, round record. ARGV: roundId, record JSON. */
  petflSaveRound: {
    numberOfKeys: 2,
    lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('SET', KEYS[2], ARGV[2])
return 1`,
  },
} as const;

/** The client once the scripts are defined (ioredis adds them as methods at run time). */
export interface ScriptedRedis {
  petflAddSumParticipant(
    current: string,
    sums: string,
    roundId: string,
    participantPk: string,
    ephemeralPk: Buffer,
  ): Promise<number>;
  petflAddUpdate(numberOfKeys: number, ...keysAndArgs: (string | Buffer)[]): Promise<number>;
  petflAddMask(
    current: string,
    sum2: string,
    maskCounts: string,
    masks: string,
    roundId: string,
    participantPk: string,
    maskHash: string,
    encodedMask: Buffer,
  ): Promise<number>;
  petflSaveRound(current: string, round: string, roundId: string, json: string): Promise<number>;
}
