/**
 * plain-http.ts: which coordinator URLs send the participant's traffic in the clear over a
 * network (plain http to a host outside 127.0.0.0/8, ::1 and localhost).
 */

import { describe, expect, it } from 'vitest';
import { plainHttpHost } from './plain-http.ts';

describe('plainHttpHost', () => {
  it('names the host of http URLs to non-loopback hosts, without port or userinfo', () => {
    expect(plainHttpHost('http://coordinator.example')).toBe('coordinator.example');
    expect(plainHttpHost('HTTP://10.0.0.1:8080/api')).toBe('10.0.0.1');
    expect(plainHttpHost('http://user:pass@192.168.1.2:80')).toBe('192.168.1.2');
    expect(plainHttpHost('http://[2001:db8::1]:3000/')).toBe('[2001:db8::1]');
    expect(plainHttpHost('http://128.0.0.1')).toBe('128.0.0.1');
    expect(plainHttpHost('http://127.0.0.1.example.com')).toBe('127.0.0.1.example.com');
    expect(plainHttpHost('http://localhost.example.com')).toBe('localhost.example.com');
  });

  it('is undefined for https and for loopback', () => {
    for (const url of [
      'https://coordinator.example',
      'https://10.0.0.1',
      'http://127.0.0.1:3000',
      'http://127.255.0.9/api',
      'http://localhost',
      'http://LOCALHOST:8080',
      'http://[::1]:3000',
      'http://[0:0:0:0:0:0:0:1]',
    ]) {
      expect(plainHttpHost(url), url).toBeUndefined();
    }
  });
});
