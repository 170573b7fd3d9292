/**
 * The globals the React Native fixture's bundle installs first (its index.js
 * imports this before anything else): the same ones a React Native app has
 * (REACT-NATIVE.md), so that the bare `hermes` CLI looks like Hermes inside
 * an app, where React Native's setup-env (left out of the fixture's bundle:
 * it needs the native runtime) and the app's polyfill packages provide them.
 *
 * - `window` and `self`: React Native's setup sets both to the global object;
 *   libsodium finds `crypto.getRandomValues` through them.
 * - `crypto.getRandomValues`: react-native-get-random-values in an app.
 * - `TextDecoder` (UTF-8): libsodium's pure-JS module creates one when it
 *   starts; an app uses a polyfill package (Hermes before RN 0.85 has none).
 * - `console.log`: the CLI has only `print`.
 *
 * Not installed, because nothing needs it: `TextEncoder` (libsodium's
 * wrappers fall back without it; petfl never uses it).
 *
 * A global `__petflOmitPolyfill` set before this runs names one polyfill to
 * leave out: e2e/consumers/react-native.test.ts uses it to show each one is
 * needed.
 */

interface Globals {
  window?: unknown;
  self?: unknown;
  crypto?: { getRandomValues?: <T extends ArrayBufferView>(array: T) => T };
  TextDecoder?: unknown;
  console?: { log(...args: unknown[]): void };
  print?: (...args: unknown[]) => void;
  __petflOmitPolyfill?: string;
}

const g = globalThis as unknown as Globals;
const omit = g.__petflOmitPolyfill;

if (omit !== 'self') {
  g.window ??= g;
  g.self ??= g;
}

if (omit !== 'getRandomValues') {
  // NOT A SECURE RANDOM SOURCE — test only. A fixed-seed xorshift128 stream: the Hermes run is
  // reproducible, and nothing compared with the Node run depends on it (ephemeral keys, mask
  // seeds of the engine's own updates, sealed boxes and message ids are only checked within the
  // engine that made them). An app gets a CSPRNG from react-native-get-random-values.
  let x = 0x9e3779b9;
  let y = 0x243f6a88;
  let z = 0xb7e15162;
  let w = 0x7f4a7c15;
  const next = (): number => {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = (w ^ (w >>> 19) ^ (t ^ (t >>> 8))) >>> 0;
    return w;
  };
  const getRandomValues = <T extends ArrayBufferView>(array: T): T => {
    const bytes = new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
    for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff;
    return array;
  };
  g.crypto ??= {};
  g.crypto.getRandomValues ??= getRandomValues;
}

if (omit !== 'TextDecoder') {
  /** UTF-8 only, replacing malformed sequences with U+FFFD: what libsodium asks of it. */
  class Utf8Decoder {
    readonly encoding = 'utf-8';
    decode(input?: ArrayBufferView | ArrayBuffer): string {
      if (input === undefined) return '';
      const bytes = ArrayBuffer.isView(input)
        ? new Uint8Array(input.buffer, input.byteOffset, input.byteLength)
        : new Uint8Array(input);
      let out = '';
      for (let i = 0; i < bytes.length; ) {
        const b0 = bytes[i] as number;
        const need = b0 < 0x80 ? 0 : b0 >= 0xc2 && b0 < 0xe0 ? 1 : b0 >= 0xe0 && b0 < 0xf0 ? 2 : b0 < 0xf5 ? 3 : -1;
        let code = need === 0 ? b0 : need === 1 ? b0 & 0x1f : need === 2 ? b0 & 0x0f : b0 & 0x07;
        let ok = need >= 0 && i + need < bytes.length;
        for (let k = 1; ok && k <= need; k++) {
          const b = bytes[i + k];
          if (b === undefined || (b & 0xc0) !== 0x80) ok = false;
          else code = (code << 6) | (b & 0x3f);
        }
        const min = need === 1 ? 0x80 : need === 2 ? 0x800 : need === 3 ? 0x10000 : 0;
        if (!ok || code < min || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
          out += '\ufffd';
          i += 1;
          continue;
        }
        out += String.fromCodePoint(code);
        i += need + 1;
      }
      return out;
    }
  }
  g.TextDecoder ??= Utf8Decoder;
}

if (g.console === undefined && g.print !== undefined) {
  const print = g.print;
  g.console = { log: (...args: unknown[]) => print(...args) };
}
