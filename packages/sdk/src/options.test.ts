/**
 * resolveOptions (options.ts): the `token` option is checked once at the entry point, and a bad
 * one is a ParticipantInitError that says what kind of value came — never the value, which may
 * be a credential.
 */

import { describe, expect, it } from 'vitest';
import { ParticipantInitError } from './errors.ts';
import { resolveOptions } from './options.ts';

const fetch = async () => ({ status: 204, text: async () => '', arrayBuffer: async () => new ArrayBuffer(0) });

describe('resolveOptions: token', () => {
  it('keeps a string or a function, and undefined when there is none', () => {
    const source = () => 'tok';
    expect(resolveOptions({ fetch, token: 'tok' }).token).toBe('tok');
    expect(resolveOptions({ fetch, token: source }).token).toBe(source);
    expect(resolveOptions({ fetch }).token).toBeUndefined();
  });

  it('refuses anything else without echoing it', () => {
    for (const [token, got] of [
      ['', 'a string'],
      ['secret\nvalue', 'a string'],
      [42, '42'],
      [{ secret: 'x' }, 'object'],
    ] as const) {
      let error: unknown;
      try {
        resolveOptions({ fetch, token: token as never });
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(ParticipantInitError);
      expect((error as Error).message).toBe(
        `options.token: expected a non-empty string (without line breaks) or a function returning one, got ${got}`,
      );
      expect((error as Error).message).not.toContain('secret');
    }
  });
});
