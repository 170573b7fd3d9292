import { describe, expect, it } from 'vitest';
import { checkLocalModel, handOver } from '../local-model.ts';
import { portableModel } from './transfer.ts';

describe('portableModel', () => {
  it.each([
    ['a model checkLocalModel made', () => checkLocalModel(Float32Array.of(1, 2, 3), undefined)],
    ['an array the app handed over', () => handOver(Float64Array.of(1, 2, 3))],
  ] as const)('moves %s without copying it, once', (_, make) => {
    const model = make();
    const first = portableModel(model);
    expect(first.value).toBe(model);
    expect(first.transfer).toEqual([model.buffer]);
    // Asked again (it should not be, the callbacks hand a model over once): copied, never moved twice.
    const second = portableModel(model);
    expect(second.value).not.toBe(model);
    expect(second.transfer).not.toContain(model.buffer);
  });

  it('copies an app’s typed array, so the app keeps a usable one', () => {
    const app = Float32Array.of(1, 2, 3);
    const { value, transfer } = portableModel(app);
    expect(value).not.toBe(app);
    expect(value).toEqual(app);
    expect(transfer).toEqual([(value as Float32Array).buffer]);
    structuredClone(value, { transfer }); // detaches the copy's buffer only
    expect(Array.from(app)).toEqual([1, 2, 3]);
  });

  it('sends any other array-like as plain values, untouched', () => {
    const plain = [1, Number.NaN];
    expect(portableModel(plain)).toEqual({ value: plain, transfer: [] });
    expect(portableModel({ length: 2, 0: 1, 1: 2 })).toEqual({ value: [1, 2], transfer: [] });
  });
});
