import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from './loopback.ts';

describe('isLoopbackHost', () => {
  it('accepts 127.0.0.0/8, ::1 in its forms and localhost only', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      'localhost',
      'LOCALHOST',
      'localhost.',
      '[::1]',
      '::1',
      '[0::1]',
      '[0:0:0:0:0:0:0:1]',
      '::ffff:127.0.0.1',
    ]) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
    for (const host of [
      '127.0.0.256',
      '127.0.0',
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      '192.168.1.2',
      '[::2]',
      '[::]',
      '[1::1]',
      ':1',
      '[::1:1]',
      'example.com',
      'localhost.example.com',
      '',
    ]) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});
