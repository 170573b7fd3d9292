/**
 * The Worker-mode transport over a real MessageChannel: calls and their
 * results, errors by class, events in order, transferred buffers, close.
 */

import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalModelLengthMismatchError, PetflError } from '../errors.ts';
import { Channel, type Endpoint, withTransfer } from './channel.ts';

const ports: MessageChannel[] = [];
afterEach(() => {
  for (const { port1, port2 } of ports.splice(0)) {
    port1.close();
    port2.close();
  }
});

function pair(): [Endpoint, Endpoint] {
  const channel = new MessageChannel();
  ports.push(channel);
  return [channel.port1 as unknown as Endpoint, channel.port2 as unknown as Endpoint];
}

describe('Channel', () => {
  it('calls a handler on the other side and resolves to its result', async () => {
    const [a, b] = pair();
    new Channel(b, { add: (x: number, y: number) => x + y, later: async () => 'done' });
    const caller = new Channel(a, {});
    expect(await caller.call('add', [2, 3])).toBe(5);
    expect(await caller.call('later')).toBe('done');
  });

  it('a handler that throws rejects the call with the same class, code and message', async () => {
    const [a, b] = pair();
    new Channel(b, {
      length: () => {
        throw new LocalModelLengthMismatchError('local model: expected 4 weights, got 5');
      },
      plain: async () => {
        throw new RangeError('out of range');
      },
    });
    const caller = new Channel(a, {});
    const error = await caller.call('length').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LocalModelLengthMismatchError);
    expect(error).toBeInstanceOf(PetflError);
    expect(error).toMatchObject({
      code: 'local-model-length-mismatch',
      message: 'local model: expected 4 weights, got 5',
    });
    const plain = await caller.call('plain').catch((e: unknown) => e);
    expect(plain).toBeInstanceOf(Error);
    expect(plain).toMatchObject({ name: 'RangeError', message: 'out of range' });
    await expect(caller.call('missing')).rejects.toThrow("no handler for 'missing'");
  });

  it('moves transferred buffers (both ways) instead of copying them', async () => {
    const [a, b] = pair();
    const kept: ArrayBuffer[] = [];
    new Channel(b, {
      echo: (model: Float32Array) => {
        kept.push(model.buffer as ArrayBuffer);
        return withTransfer(model, [model.buffer as ArrayBuffer]);
      },
    });
    const caller = new Channel(a, {});
    const sent = Float32Array.of(1, 2, 3);
    const back = await caller.call<Float32Array>('echo', [sent], [sent.buffer]);
    expect(sent.byteLength).toBe(0); // detached: moved to the other side
    expect(kept[0]?.byteLength).toBe(0); // and moved back
    expect(Array.from(back)).toEqual([1, 2, 3]);
  });

  it('delivers events in order, before a later reply', async () => {
    const [a, b] = pair();
    const seen: string[] = [];
    const server: Channel = new Channel(b, {
      work: () => {
        server.emit('progress', 1);
        server.emit('progress', 2);
        return 'result';
      },
    });
    const caller = new Channel(a, {}, (name, payload) => seen.push(`${name}:${String(payload)}`));
    const result = await caller.call('work');
    seen.push(String(result));
    expect(seen).toEqual(['progress:1', 'progress:2', 'result']);
  });

  it('close() rejects waiting and later calls with the reason; foreign messages are ignored', async () => {
    const [a, b] = pair();
    new Channel(b, { never: () => new Promise(() => {}) });
    const caller = new Channel(a, {});
    b.postMessage({ some: 'other message' }, []);
    const waiting = caller.call('never');
    const reason = new Error('closed for the test');
    caller.close(reason);
    await expect(waiting).rejects.toBe(reason);
    await expect(caller.call('never')).rejects.toBe(reason);
  });
});
