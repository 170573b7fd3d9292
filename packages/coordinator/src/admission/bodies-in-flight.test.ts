/**
 * The bound on message bodies in flight, through the app: a body held open
 * keeps its slot; the next request waits for it in a bounded queue, its body
 * unread, or is answered 503 busy — at once when the queue is full, or once it
 * waited too long; the slot is free again, or handed to the first waiter,
 * when the handler has answered.
 */

import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, identities, runRound, startHarness, testSettings } from '../../test-support/harness.ts';
import { answeredUnread, heldBody, postInit } from '../../test-support/held-body.ts';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const GARBAGE = new Uint8Array(200).fill(7);

describe('POST /message bodies in flight', () => {
  it('answers 503 busy beyond api.max_bodies_in_flight without reading the body, and frees the slot after an error', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODIES_IN_FLIGHT: '1', PETFL_API_MAX_BODIES_WAITING: '0' }));
    const first = heldBody();
    const firstResponse = h.app.request('/message', postInit(first.stream));
    await first.reading;

    const second = heldBody();
    const busy = await answeredUnread(second, h.app.request('/message', postInit(second.stream)));
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect(busy.headers.get('connection')).toBe('close');
    expect(await busy.json()).toEqual({
      code: 'busy',
      message: expect.stringMatching(/1 message bodies are in flight/),
    });
    expect(second.pulled).toBe(false);

    // The first finishes with an error (not a sealed message): its slot is released.
    first.finish(GARBAGE);
    expect((await firstResponse).status).toBe(400);
    const third = heldBody();
    const thirdResponse = Promise.resolve(h.app.request('/message', postInit(third.stream)));
    // Admitted: its body is read (a refusal would answer without reading it).
    expect(await Promise.race([third.reading.then(() => 'reading'), thirdResponse.then((r) => r.status)])).toBe(
      'reading',
    );
    third.finish(GARBAGE);
    expect((await thirdResponse).status).toBe(400);

    const metrics = await h.metrics.registry.metrics();
    expect(metrics).toMatch(/petfl_messages_rejected_total\{code="busy"\} 1/);
  });

  it('frees the slot after an accepted message: a whole round passes one body at a time', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODIES_IN_FLIGHT: '1' }));
    const run = await runRound(h, identities(h.crypto, 80, 3), { sum: 3, update: 10 }, 1);
    expect(run.roundId).toBe(1);
  });

  it('holds up to the bound at once', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODIES_IN_FLIGHT: '3', PETFL_API_MAX_BODIES_WAITING: '0' }));
    const held = [heldBody(), heldBody(), heldBody()];
    const responses = held.map((body) => h?.app.request('/message', postInit(body.stream)));
    await Promise.all(held.map((body) => body.reading));
    const fourth = heldBody();
    expect((await answeredUnread(fourth, h.app.request('/message', postInit(fourth.stream)))).status).toBe(503);
    for (const body of held) body.finish(GARBAGE);
    for (const response of responses) expect((await response)?.status).toBe(400);
    expect(fourth.pulled).toBe(false);
  });

  it('lets requests beyond the bound wait for a slot, first come first served, up to api.max_bodies_waiting', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODIES_IN_FLIGHT: '1', PETFL_API_MAX_BODIES_WAITING: '2' }));
    const first = heldBody();
    const firstResponse = h.app.request('/message', postInit(first.stream));
    await first.reading;

    // Two wait, their bodies unread; a third finds the queue full and is refused at once.
    const second = heldBody();
    const secondResponse = Promise.resolve(h.app.request('/message', postInit(second.stream)));
    const third = heldBody();
    const thirdResponse = Promise.resolve(h.app.request('/message', postInit(third.stream)));
    const fourth = heldBody();
    const busy = await answeredUnread(fourth, h.app.request('/message', postInit(fourth.stream)));
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect([second.pulled, third.pulled]).toEqual([false, false]);

    // The slot passes to the first waiter when the first body's handler has answered, then on.
    first.finish(GARBAGE);
    expect((await firstResponse).status).toBe(400);
    await second.reading;
    expect(third.pulled).toBe(false);
    second.finish(GARBAGE);
    expect((await secondResponse).status).toBe(400);
    await third.reading;
    third.finish(GARBAGE);
    expect((await thirdResponse).status).toBe(400);
  });

  it('refuses a request that waited BODY_WAIT_MS without a slot, its body unread, and forgets it', async () => {
    h = await startHarness(testSettings({ PETFL_API_MAX_BODIES_IN_FLIGHT: '1', PETFL_API_MAX_BODIES_WAITING: '1' }));
    const first = heldBody();
    const firstResponse = h.app.request('/message', postInit(first.stream));
    await first.reading;
    // The first body stays held however long this takes: the waiter's only way out is its limit.
    const second = heldBody();
    const waited = await answeredUnread(second, h.app.request('/message', postInit(second.stream)));
    expect(waited.status).toBe(503);
    expect(((await waited.json()) as { code: string }).code).toBe('busy');
    // It left the queue: the next one waits in its place and gets the slot once the first is done.
    const third = heldBody();
    const thirdResponse = Promise.resolve(h.app.request('/message', postInit(third.stream)));
    first.finish(GARBAGE);
    expect((await firstResponse).status).toBe(400);
    await third.reading;
    third.finish(GARBAGE);
    expect((await thirdResponse).status).toBe(400);
    expect(second.pulled).toBe(false);
  });
});
