/**
 * Thousands of long polls against the real Node server (docs/security.md §4): at most
 * `api.max_phase_waiters` are held, the rest are answered at once, the server's memory stays
 * bounded, and every held poll is answered when the coordinator shuts down.
 */

import { Socket } from 'node:net';
import { expect, it } from 'vitest';
import { testSettings } from '../../test-support/harness.ts';
import { listen } from '../node/listen.ts';
import { MemoryModelStore } from '../store/memory-model-store.ts';

const POLLS = 4000;
const CAP = 500;
const BATCH = 250;

interface Poll {
  readonly socket: Socket;
  /** The token of the first answer, once it has come. */
  readonly answer: Promise<string>;
}

function poll(port: number, onAnswer: () => void): Promise<Poll> {
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    let text = '';
    const answer = new Promise<string>((done) => {
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        const token = /"token":"([^"]+)"/.exec(text)?.[1];
        if (token !== undefined && /^HTTP\/1\.1 200/.test(text)) {
          socket.removeAllListeners('data');
          onAnswer();
          done(token);
        }
      });
    });
    socket.on('error', () => undefined);
    socket.once('error', reject);
    socket.connect(port, '127.0.0.1', () => {
      socket.off('error', reject);
      socket.write('GET /phase?after=1.sum&wait_ms=30000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
      resolve({ socket, answer });
    });
  });
}

it(`holds at most max_phase_waiters of ${POLLS} long polls, in bounded memory, and answers all at shutdown`, async () => {
  const running = await listen(
    testSettings({
      PETFL_API_PORT: '0',
      PETFL_API_MAX_CONNECTIONS: String(POLLS + 1000),
      PETFL_API_MAX_PHASE_WAITERS: String(CAP),
      PETFL_LIMITS_PHASE_POLLS_PER_MINUTE_PER_IP: '0',
    }),
    { models: new MemoryModelStore() },
  );
  const polls: Poll[] = [];
  let closed = false;
  try {
    const rssBefore = process.memoryUsage().rss;
    let answered = 0;
    let allEarly: () => void = () => undefined;
    const early = new Promise<void>((resolve) => {
      allEarly = resolve;
    });
    const onAnswer = () => {
      answered++;
      if (answered === POLLS - CAP) allEarly();
    };
    // In batches, each seen by the server before the next, so its listen backlog never overflows.
    for (let i = 0; i < POLLS; i += BATCH) {
      polls.push(...(await Promise.all(Array.from({ length: BATCH }, () => poll(running.port, onAnswer)))));
      await expect
        .poll(() => answered + running.coordinator.phaseWaiters(), { interval: 5, timeout: 30_000 })
        .toBe(polls.length);
    }
    await early;
    await expect.poll(() => running.coordinator.phaseWaiters(), { timeout: 30_000 }).toBe(CAP);
    expect(answered).toBe(POLLS - CAP);

    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^petfl_phase_waiters ${CAP}$`, 'm'));
    // Client and server sockets both live in this process: a generous bound on both together.
    const grown = process.memoryUsage().rss - rssBefore;
    expect(grown).toBeLessThan(400 * 1024 * 1024);

    await running.close();
    closed = true;
    const tokens = await Promise.all(polls.map((p) => p.answer));
    expect(tokens.filter((t) => t === '1.sum')).toHaveLength(POLLS - CAP);
    expect(tokens.filter((t) => t === '1.shutdown')).toHaveLength(CAP);
    expect(running.coordinator.phaseWaiters()).toBe(0);
  } finally {
    for (const p of polls) p.socket.destroy();
    if (!closed) await running.close();
  }
}, 120_000);
