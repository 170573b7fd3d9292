/**
 * Chromium with nothing attached but what the e2e benchmark asks for: the browser is started
 * with `--remote-debugging-pipe` and driven over the DevTools protocol directly (Target, Page,
 * Runtime), never enabling the Network domain. Playwright enables it on every page and Worker it
 * sees, and that makes each uploaded byte cost several times as much (`npm run bench:harness`), so
 * `npm run bench:e2e -- --driver bare` measures the tabs as a user's browser runs them.
 *
 * Protocol messages travel as JSON separated by NUL bytes: written to the browser on fd 3, read
 * from it on fd 4. A page is a target attached in flat mode (its own session id); its Workers are
 * reached as HeapProbe reaches them under Playwright (Target.setAutoAttach on the page's session).
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.ts';

type Handler = (params: Record<string, unknown>, sessionId: string | undefined) => void;

/**
 * Each tab stands for a device of its own, in the foreground, as under Playwright (which passes
 * these switches too): a tab in the background would have its timers throttled.
 */
const FOREGROUND_ARGS = [
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-renderer-backgrounding',
];

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(error: Error): void;
  method: string;
}

/** A DevTools protocol session: the browser's, or a page's. */
export interface CdpSession {
  send(method: string, params?: object): Promise<Record<string, unknown>>;
  on(event: string, handler: (params: Record<string, unknown>) => void): void;
}

export class BareChromium {
  readonly #child: ChildProcess;
  readonly #profile: string;
  readonly #out: Writable;
  #next = 1;
  readonly #pending = new Map<number, Pending>();
  readonly #handlers: { event: string; sessionId: string | undefined; handler: Handler }[] = [];
  #buffer = '';
  /** Each open tab's browser context. */
  readonly #contexts = new Map<string, string>();

  private constructor(child: ChildProcess, profile: string) {
    this.#child = child;
    this.#profile = profile;
    this.#out = child.stdio[3] as Writable;
    const input = child.stdio[4] as Readable;
    input.setEncoding('utf8');
    input.on('data', (text: string) => this.#receive(text));
    child.once('exit', () => {
      for (const { reject, method } of this.#pending.values()) reject(new Error(`chromium exited during ${method}`));
      this.#pending.clear();
    });
  }

  static launch(): BareChromium {
    const profile = mkdtempSync(join(tmpdir(), 'petfl-bare-chromium-'));
    const child = spawn(
      CHROMIUM_PATH,
      [
        ...CHROMIUM_ARGS,
        ...FOREGROUND_ARGS,
        '--headless',
        '--remote-debugging-pipe',
        `--user-data-dir=${profile}`,
        'about:blank',
      ],
      // A process group of its own: `close` ends the browser's helpers with it.
      { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'], detached: true },
    );
    return new BareChromium(child, profile);
  }

  /** The browser's session. */
  readonly browser: CdpSession = {
    send: (method, params) => this.#send(method, params ?? {}, undefined),
    on: (event, handler) => this.#handlers.push({ event, sessionId: undefined, handler }),
  };

  /**
   * A new tab in a window and a browser context of its own, focused (DevTools focus emulation, as
   * Playwright does for each page): created blank, attached, given `initScript` to run before any
   * page script, then navigated to `url`. Resolves with the page's session once the navigation is
   * under way.
   */
  async openPage(url: string, initScript: string): Promise<{ targetId: string; session: CdpSession }> {
    // A browser context of its own, as Playwright gives each tab: its own storage (IndexedDB,
    // localStorage), so no tab restores another's participant state.
    const { browserContextId } = (await this.browser.send('Target.createBrowserContext')) as {
      browserContextId: string;
    };
    const { targetId } = (await this.browser.send('Target.createTarget', {
      url: 'about:blank',
      newWindow: true,
      browserContextId,
    })) as { targetId: string };
    this.#contexts.set(targetId, browserContextId);
    const { sessionId } = (await this.browser.send('Target.attachToTarget', { targetId, flatten: true })) as {
      sessionId: string;
    };
    const session: CdpSession = {
      send: (method, params) => this.#send(method, params ?? {}, sessionId),
      on: (event, handler) => this.#handlers.push({ event, sessionId, handler }),
    };
    await session.send('Page.enable');
    await session.send('Runtime.enable');
    await session.send('Emulation.setFocusEmulationEnabled', { enabled: true });
    await session.send('Page.addScriptToEvaluateOnNewDocument', { source: initScript });
    await session.send('Page.navigate', { url });
    return { targetId, session };
  }

  /** Closes the tab and disposes of its browser context (its storage with it). */
  async closePage(targetId: string): Promise<void> {
    await this.browser.send('Target.closeTarget', { targetId }).catch(() => {});
    const browserContextId = this.#contexts.get(targetId);
    this.#contexts.delete(targetId);
    if (browserContextId !== undefined) {
      await this.browser.send('Target.disposeBrowserContext', { browserContextId }).catch(() => {});
    }
  }

  async close(): Promise<void> {
    const exited = new Promise((resolve) =>
      this.#child.exitCode === null ? this.#child.once('exit', resolve) : resolve(null),
    );
    if (this.#child.pid !== undefined) {
      try {
        process.kill(-this.#child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
    rmSync(this.#profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  }

  #send(method: string, params: object, sessionId: string | undefined): Promise<Record<string, unknown>> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.#out.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`);
    });
  }

  #receive(text: string): void {
    this.#buffer += text;
    for (let end = this.#buffer.indexOf('\0'); end >= 0; end = this.#buffer.indexOf('\0')) {
      const raw = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 1);
      const message = JSON.parse(raw) as {
        id?: number;
        result?: Record<string, unknown>;
        error?: { message: string };
        method?: string;
        params?: Record<string, unknown>;
        sessionId?: string;
      };
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error !== undefined) pending?.reject(new Error(`${pending.method}: ${message.error.message}`));
        else pending?.resolve(message.result ?? {});
        continue;
      }
      for (const h of this.#handlers) {
        if (h.event === message.method && h.sessionId === message.sessionId)
          h.handler(message.params ?? {}, message.sessionId);
      }
    }
  }
}
