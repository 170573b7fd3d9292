/**
 * The rest of the federation for a browser test: Node participants in the
 * test process (ParticipantABCs run by `spawnParticipant` of the main entry,
 * direct mode), all training zeros, so a page's contribution shows in the
 * global model. In 'auto' mode they take every update task; in 'held' mode
 * each waits in `participateInUpdateTask()` until the test `release`s it —
 * so an update phase stays open (its count.min not reached) for as long as
 * the test wants. A release that comes after its round is over is dropped
 * by the SDK (a late result never carries into another round).
 */

import {
  MemoryStateStore,
  ParticipantABC,
  type ParticipantHandle,
  type ParticipantSnapshot,
  spawnParticipant,
} from '@petfl/sdk';

export interface NodeParticipant {
  getSnapshot(): ParticipantSnapshot;
}

export interface Federation {
  readonly participants: readonly NodeParticipant[];
  /** The Node participants waiting to be released for the update task of round `roundId`. */
  updating(roundId: number): NodeParticipant[];
  /** Releases `count` of them (all when omitted) to send their update; returns how many. */
  release(roundId: number, count?: number): number;
  stop(): Promise<void>;
}

class Zeros extends ParticipantABC<Float32Array | Float64Array, Float32Array> {
  handle: ParticipantHandle | undefined;
  /** The update task waiting for the test, in held mode. */
  gate: { readonly roundId: number; readonly open: () => void } | undefined;

  private readonly length: number;
  private readonly held: boolean;

  constructor(length: number, held: boolean) {
    super();
    this.length = length;
    this.held = held;
  }

  override participateInUpdateTask(): boolean | Promise<boolean> {
    const roundId = this.handle?.getSnapshot().roundId;
    if (!this.held || roundId === null || roundId === undefined) return true;
    return new Promise<boolean>((resolve) => {
      this.gate = { roundId, open: () => resolve(true) };
    });
  }

  trainRound(): Float32Array {
    return new Float32Array(this.length);
  }

  serializeTrainingResult(result: Float32Array): ArrayLike<number> {
    return result;
  }

  deserializeTrainingInput(globalModel: Float32Array | Float64Array): Float32Array | Float64Array {
    return globalModel;
  }
}

export async function startFederation(
  coordinatorUrl: string,
  options: { readonly count: number; readonly modelLength: number; readonly mode: 'auto' | 'held' },
): Promise<Federation> {
  const { count, modelLength, mode } = options;
  const members: { participant: Zeros; handle: ParticipantHandle }[] = [];
  for (let i = 0; i < count; i++) {
    const participant = new Zeros(modelLength, mode === 'held');
    const handle = await spawnParticipant(coordinatorUrl, participant, {
      store: new MemoryStateStore(),
      pollMs: 20,
      maxPollMs: 200,
      logLevel: 'error',
    });
    participant.handle = handle;
    members.push({ participant, handle });
  }
  const waiting = (roundId: number) =>
    members.filter(({ participant, handle }) => {
      const s = handle.getSnapshot();
      return s.roundId === roundId && s.phase === 'update' && participant.gate?.roundId === roundId;
    });
  return {
    participants: members.map((m) => m.handle),
    updating: (roundId) => waiting(roundId).map((m) => m.handle),
    release(roundId, n) {
      const ready = waiting(roundId).slice(0, n);
      for (const { participant } of ready) {
        participant.gate?.open();
        participant.gate = undefined;
      }
      return ready.length;
    },
    async stop() {
      await Promise.all(members.map((m) => m.handle.stop().catch(() => {})));
    },
  };
}
