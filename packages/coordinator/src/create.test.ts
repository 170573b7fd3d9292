/**
 * The web-standard wiring (`createCoordinatorApp`): ports in, no Node adapter
 * needed. Without a metrics port `GET /metrics` is 404; a metrics port and an
 * embedder's hooks are both fed by the coordinator's events and by the app's
 * refusals; a hook that throws breaks nothing.
 */

import { initCrypto } from '@petfl/core';
import { afterEach, describe, expect, it } from 'vitest';
import { testSettings } from '../test-support/harness.ts';
import { ManualClock } from '../test-support/manual-clock.ts';
import { createCoordinatorApp } from './create.ts';
import type { CoordinatorMetrics } from './metrics.ts';
import type { Coordinator, CoordinatorEvents } from './state-machine/coordinator.ts';
import { MemoryModelStore } from './store/memory-model-store.ts';

const GARBAGE = new Uint8Array(300);
const post = (body: Uint8Array) => ({ method: 'POST', body });

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

/** A metrics port that counts rejections by code and renders them as text. */
class CountingMetrics implements CoordinatorMetrics {
  readonly rejected: Record<string, number> = {};
  watched: Coordinator | undefined;
  readonly events: CoordinatorEvents = {
    messageRejected: (code) => {
      this.rejected[code] = (this.rejected[code] ?? 0) + 1;
    },
  };
  watch(coordinator: Coordinator): void {
    this.watched = coordinator;
  }
  async render() {
    return { body: JSON.stringify(this.rejected), contentType: 'application/json' };
  }
}

describe('createCoordinatorApp', () => {
  it('runs on memory stores with no metrics: GET /metrics answers 404', async () => {
    const created = await createCoordinatorApp(testSettings(), {
      models: new MemoryModelStore(),
      clock: new ManualClock(),
    });
    close = created.close;
    expect(created.metrics).toBeUndefined();
    expect((await created.app.request('/params')).status).toBe(200);
    const res = await created.app.request('/metrics');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ code: 'not-found' });
  });

  it('feeds a metrics port and an embedder’s hooks, also with refusals made before the coordinator', async () => {
    const metrics = new CountingMetrics();
    const heard: string[] = [];
    const created = await createCoordinatorApp(testSettings({ PETFL_API_MAX_BODY_BYTES: '1024' }), {
      models: new MemoryModelStore(),
      clock: new ManualClock(),
      metrics,
      events: { messageRejected: (code) => heard.push(code) },
    });
    close = created.close;
    expect(metrics.watched).toBe(created.coordinator);
    expect((await created.app.request('/message', post(GARBAGE))).status).toBe(400);
    expect((await created.app.request('/message', post(new Uint8Array(2000)))).status).toBe(413);
    expect(heard).toEqual(['decrypt-failed', 'body-too-large']);
    const res = await created.app.request('/metrics');
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.json()).toEqual({ 'decrypt-failed': 1, 'body-too-large': 1 });
  });

  it('keeps answering when an event hook throws, and reports it', async () => {
    const metrics = new CountingMetrics();
    const logged: object[] = [];
    const log = (obj: object) => logged.push(obj);
    const created = await createCoordinatorApp(testSettings(), {
      models: new MemoryModelStore(),
      clock: new ManualClock(),
      metrics,
      events: {
        messageRejected: () => {
          throw new Error('hook bug');
        },
      },
      logger: { debug: log, info: log, warn: log, error: log },
    });
    close = created.close;
    expect((await created.app.request('/message', post(GARBAGE))).status).toBe(400);
    expect(metrics.rejected).toEqual({ 'decrypt-failed': 1 });
    expect(logged).toContainEqual({ err: 'hook bug', hook: 'messageRejected' });
  });

  it('needs a store port when settings name Redis', async () => {
    const settings = testSettings({ PETFL_STORE_KIND: 'redis' });
    await expect(
      createCoordinatorApp(settings, { crypto: await initCrypto(), models: new MemoryModelStore() }),
    ).rejects.toThrow(/store\.kind = "redis" needs ports\.store/);
  });
});
