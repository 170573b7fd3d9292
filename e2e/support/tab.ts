/**
 * One participant tab: the demo's participant page in a browser context of its own
 * (its own IndexedDB, so its own participant identity), opened on the test's
 * coordinator and waited on until it has joined (`data-testid="ready"`). Reads go
 * through the page's test hook `window.__petfl` (plain data across the boundary).
 */

import { type Browser, type BrowserContext, expect, type Page } from '@playwright/test';

export interface ParticipantSnapshot {
  readonly participantPk: string;
  readonly phase: string;
  readonly task: string;
  readonly roundId: number | null;
  readonly training: boolean;
  readonly bytesSent: number;
  readonly lastError: { code: string; message: string; roundId: number | null } | null;
}

export interface Submitted {
  readonly roundId: number;
  readonly scalar: number;
  readonly model: number[];
}

export interface PetflHook {
  snapshot(): ParticipantSnapshot | null;
  submitted: Submitted[];
  globalModels: { roundId: number; accuracy: number }[];
  backend: string;
  memory(): { numTensors: number; numBytes: number };
  timings: PageTimings;
  uploads: RoundUpload[];
  /** Absent in builds before it was recorded. */
  steps?: PhaseStep[];
}

/** Milestones since navigation start (apps/web/test-hooks/records.ts). */
export interface PageTimings {
  joinedMs: number | null;
  firstRoundMs: number | null;
  firstTaskMs: number | null;
  firstSentMs: number | null;
}

/** One request the page sent, credited to its round and task (records.ts). */
export interface RoundUpload {
  roundId: number;
  task: string;
  seq: number;
  bytes: number;
  /** When the page saw it sent (ms since navigation start). */
  atMs?: number;
}

/** A change of the participant's phase or task the page saw (records.ts). */
export interface PhaseStep {
  atMs: number;
  roundId: number | null;
  phase: string;
  task: string;
  training: boolean;
}

declare global {
  interface Window {
    __petfl?: PetflHook;
  }
}

export interface TabOptions {
  readonly shard: number;
  readonly shards: number;
  readonly split?: 'iid' | 'noniid';
  /** `plain` is the benchmark-only plain-averaging mode (apps/web/test-hooks/plain.ts). */
  readonly mode?: 'worker' | 'direct' | 'plain';
  readonly backends?: string;
  /** Default: one per tab (`e2e-<shard>`). */
  readonly storeKey?: string;
  readonly epochs?: number;
  /** The page's model (`model=`, apps/web/src/params.ts); the page's default (`demo`) when absent. */
  readonly model?: string;
  /**
   * Where the page's test hook keeps the local models it records (`hookStorage=`,
   * apps/web/test-hooks/hook.ts): by default in memory and in sessionStorage (for a reload);
   * `memory` in memory only; `none` not at all (their rounds and scalars only).
   */
  readonly hookStorage?: 'memory' | 'none';
  /** The SDK's `maxChunkData` in KiB (`chunk_kib=`, apps/web/src/params.ts); the SDK's default when absent. */
  readonly chunkKib?: number;
}

/** Few tabs of SwiftShader at a time on a small machine: the wasm backend first. */
export const DEFAULT_BACKENDS = 'wasm,cpu';

export function participantUrl(origin: string, coordinatorUrl: string, options: TabOptions): string {
  const params = new URLSearchParams({
    coordinator: coordinatorUrl,
    shard: String(options.shard),
    shards: String(options.shards),
    split: options.split ?? 'iid',
    mode: options.mode ?? 'worker',
    backends: options.backends ?? DEFAULT_BACKENDS,
    storeKey: options.storeKey ?? `e2e-${options.shard}`,
    epochs: String(options.epochs ?? 1),
    ...(options.model === undefined ? {} : { model: options.model }),
    ...(options.hookStorage === undefined ? {} : { hookStorage: options.hookStorage }),
    ...(options.chunkKib === undefined ? {} : { chunk_kib: String(options.chunkKib) }),
  });
  return `${origin}/participant.html?${params}`;
}

export class Tab {
  /** Console errors (but the coordinator's 4xx refusals) and uncaught exceptions. */
  readonly problems: string[] = [];
  /** Every local model this tab recorded, kept here so a reload or close does not lose them. */
  readonly recorded = new Map<number, Submitted>();
  /** The bodies of the tab's POST /message requests, as sent (for replaying them). */
  readonly messages: Buffer[] = [];
  closed = false;

  readonly name: string;
  readonly context: BrowserContext;
  readonly page: Page;
  readonly url: string;

  private constructor(name: string, context: BrowserContext, page: Page, url: string) {
    this.name = name;
    this.context = context;
    this.page = page;
    this.url = url;
    page.on('console', (message) => {
      const refusal = /status of 4\d\d/.test(message.text());
      if (message.type() === 'error' && !refusal) this.problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => this.problems.push(`pageerror: ${error.message}`));
    context.on('requestfinished', (request) => {
      const body = request.method() === 'POST' && request.url().endsWith('/message') ? request.postDataBuffer() : null;
      if (body !== null) this.messages.push(body);
    });
  }

  /** `prepare`: runs on the new context and page before the page loads (e.g. an init script). */
  static async open(
    browser: Browser,
    url: string,
    name: string,
    prepare?: (context: BrowserContext, page: Page) => Promise<void>,
  ): Promise<Tab> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const tab = new Tab(name, context, page, url);
    await prepare?.(context, page);
    await page.goto(url);
    await tab.waitReady();
    return tab;
  }

  /** A backstop for a page that never joins: loading TensorFlow.js and MNIST on a loaded machine takes a while. */
  async waitReady(timeout = 180_000): Promise<void> {
    await expect(this.page.getByTestId('ready')).toBeAttached({ timeout });
  }

  /** The participant key the page shows. */
  async participantId(): Promise<string> {
    return ((await this.page.getByTestId('participant-id').textContent()) ?? '').trim();
  }

  snapshot(): Promise<ParticipantSnapshot | null> {
    return this.page.evaluate(() => window.__petfl?.snapshot() ?? null);
  }

  submitted(): Promise<Submitted[]> {
    return this.page.evaluate(() =>
      (window.__petfl?.submitted ?? []).map((s) => ({ roundId: s.roundId, scalar: s.scalar, model: [...s.model] })),
    );
  }

  /** Reads the page's submitted models into `recorded`; returns them all. */
  async collect(): Promise<Submitted[]> {
    if (!this.closed) for (const s of await this.submitted()) this.recorded.set(s.roundId, s);
    return [...this.recorded.values()];
  }

  globalModels(): Promise<{ roundId: number; accuracy: number }[]> {
    return this.page.evaluate(() => (window.__petfl?.globalModels ?? []).map((g) => ({ ...g })));
  }

  /** Each request the page sent, credited to its round and task (apps/web's `SnapshotRecorder`). */
  uploads(): Promise<RoundUpload[]> {
    return this.page.evaluate(() => (window.__petfl?.uploads ?? []).map((u) => ({ ...u })));
  }

  backend(): Promise<string> {
    return this.page.evaluate(() => window.__petfl?.backend ?? '');
  }

  /** The page's `tf.memory()` counts (tensors alive, their bytes). */
  memory(): Promise<{ numTensors: number; numBytes: number }> {
    return this.page.evaluate(() => {
      const hook = window.__petfl;
      if (hook === undefined) throw new Error('the page has not joined: no window.__petfl');
      return hook.memory();
    });
  }

  async reload(): Promise<void> {
    await this.collect();
    await this.page.reload();
    await this.waitReady();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.collect().catch(() => {});
    this.closed = true;
    await this.context.close();
  }
}
