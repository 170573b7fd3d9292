import { describe, expect, it } from 'vitest';
import { initCrypto } from '../crypto/sodium.ts';
import { bytePattern, errorCode, fixtureKeys, toHex } from '../testing/message-fixtures.ts';
import {
  decodeHeader,
  encodeHeader,
  FLAG_MULTIPART,
  HEADER_BYTES,
  HEADER_RANGES,
  type Header,
  TAGS,
  tagFromWire,
} from './header.ts';

const crypto = await initCrypto();
const keys = fixtureKeys(crypto);

const header: Header = {
  signature: bytePattern(64, 0),
  participantPk: keys.participant.publicKey,
  coordinatorPk: keys.coordinator.publicKey,
  length: 0x0102_0304,
  tag: 'update',
  multipart: true,
};

describe('header (protocol.md §3.1)', () => {
  it('has explicit wire literals', () => {
    expect(TAGS).toEqual({ sum: 1, update: 2, sum2: 3 });
    expect(FLAG_MULTIPART).toBe(0x01);
    expect(HEADER_BYTES).toBe(136);
    expect(HEADER_RANGES.reserved[1]).toBe(HEADER_BYTES);
    expect(tagFromWire(3)).toBe('sum2');
    expect(tagFromWire(0)).toBeUndefined();
  });

  it('encodes the golden vector and decodes it back', () => {
    const bytes = encodeHeader(header);
    expect(toHex(bytes)).toBe(
      [
        '000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f', // signature
        '202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f',
        '8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c', // participantPk
        '60346e7c911a5f6ba154129174cafe75b294ac3bbd5549632f48cec6266f8410', // coordinatorPk
        '01020304', // length u32 BE
        '02', // tag: update
        '01', // flags: multipart
        '0000', // reserved
      ].join(''),
    );
    expect(decodeHeader(bytes)).toStrictEqual(header);
    expect(decodeHeader(encodeHeader({ ...header, tag: 'sum', multipart: false }))).toStrictEqual({
      ...header,
      tag: 'sum',
      multipart: false,
    });
  });

  it('rejects every truncation and a trailing byte', () => {
    const bytes = encodeHeader(header);
    for (let n = 0; n < bytes.length; n++)
      expect(errorCode(() => decodeHeader(bytes.subarray(0, n)))).toBe('truncated');
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expect(errorCode(() => decodeHeader(longer))).toBe('trailing-bytes');
  });

  it('rejects unknown tags, unknown flags and nonzero reserved bytes', () => {
    const bytes = encodeHeader(header);
    const patched = (at: number, value: number) => {
      const b = bytes.slice();
      b[at] = value;
      return () => decodeHeader(b);
    };
    for (const tag of [0, 4, 0x80, 0xff]) expect(errorCode(patched(132, tag))).toBe('unknown-tag');
    for (const flags of [0x02, 0x03, 0x80, 0xff]) expect(errorCode(patched(133, flags))).toBe('invalid-field');
    expect(errorCode(patched(133, 0))).toBe('no error');
    expect(errorCode(patched(134, 1))).toBe('reserved-nonzero');
    expect(errorCode(patched(135, 0x80))).toBe('reserved-nonzero');
  });

  it('checks length, then round key, then tag, flags, reserved', () => {
    const expect_ = { messageLength: header.length, coordinatorPk: keys.coordinator.publicKey };
    const bytes = encodeHeader(header);
    expect(decodeHeader(bytes, expect_)).toStrictEqual(header);
    const bad = bytes.slice();
    bad[132] = 9; // unknown tag
    bad[134] = 1; // reserved
    expect(errorCode(() => decodeHeader(bad, { ...expect_, messageLength: 999 }))).toBe('length-mismatch');
    expect(errorCode(() => decodeHeader(bad, { ...expect_, coordinatorPk: keys.ephemeral.publicKey }))).toBe(
      'wrong-coordinator-key',
    );
    expect(errorCode(() => decodeHeader(bad, expect_))).toBe('unknown-tag');
    bad[132] = 1;
    bad[133] = 0x10;
    expect(errorCode(() => decodeHeader(bad, expect_))).toBe('invalid-field');
    bad[133] = 0;
    expect(errorCode(() => decodeHeader(bad, expect_))).toBe('reserved-nonzero');
  });

  it('names the field, the expectation and what came', () => {
    expect(() => decodeHeader(bytePattern(70, 0))).toThrow(
      'header.participantPk: expected 32 bytes at offset 64, got 6',
    );
  });

  it('refuses to encode malformed headers', () => {
    expect(errorCode(() => encodeHeader({ ...header, signature: new Uint8Array(63) }))).toBe('invalid-field');
    expect(errorCode(() => encodeHeader({ ...header, participantPk: new Uint8Array(33) }))).toBe('invalid-field');
    expect(errorCode(() => encodeHeader({ ...header, coordinatorPk: new Uint8Array(0) }))).toBe('invalid-field');
    expect(errorCode(() => encodeHeader({ ...header, length: 135 }))).toBe('oversized');
    expect(errorCode(() => encodeHeader({ ...header, length: 2 ** 32 }))).toBe('oversized');
    expect(errorCode(() => encodeHeader({ ...header, tag: 'nope' as 'sum' }))).toBe('unknown-tag');
    expect(errorCode(() => encodeHeader({ ...header, tag: 'toString' as 'sum' }))).toBe('unknown-tag');
  });
});
