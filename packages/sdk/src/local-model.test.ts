import { describe, expect, it } from 'vitest';
import { LocalModelDataTypeMismatchError, LocalModelLengthMismatchError } from './errors.ts';
import { checkLocalModel, handOver, takeFreshModel, takeHandedOver } from './local-model.ts';

describe('checkLocalModel', () => {
  it('copies a Float32Array into a new Float32Array, anything else into a new Float64Array, of the same values', () => {
    const f32 = Float32Array.of(0.1, -2.5, 0, -0, 3.4e38);
    const f64 = Float64Array.of(0.1, -2.5, 1e300);
    const plain = [0.1, -2.5, 7];
    for (const model of [f32, f64, plain]) {
      const out = checkLocalModel(model, { modelLength: model.length });
      expect(out).toBeInstanceOf(model instanceof Float32Array ? Float32Array : Float64Array);
      expect(Array.from(out)).toEqual(Array.from(model));
      expect(out.buffer).not.toBe((model as Float32Array).buffer);
    }
    const out = checkLocalModel(f32, undefined);
    f32[0] = 9; // the app reuses its buffer
    expect(out[0]).toBe(Math.fround(0.1));
  });

  it.each([
    ['Float32Array', Float32Array],
    ['Float64Array', Float64Array],
  ] as const)('names the first NaN or ±Infinity in a %s by index', (_, Type) => {
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
      const model = new Type(1000).fill(0.5);
      model[737] = bad;
      model[900] = Number.NaN;
      expect(() => checkLocalModel(model, undefined)).toThrow(
        new LocalModelDataTypeMismatchError(`local model[737]: expected a finite number, got number ${bad}`),
      );
      // only the last weight bad: the whole array is checked
      const last = new Type(100_001).fill(-0);
      last[100_000] = bad;
      expect(() => checkLocalModel(last, undefined)).toThrow(
        new LocalModelDataTypeMismatchError(`local model[100000]: expected a finite number, got number ${bad}`),
      );
    }
  });

  it('checks the length against the round before the values', () => {
    expect(() => checkLocalModel(Float32Array.of(Number.NaN, 1), { modelLength: 3 })).toThrow(
      LocalModelLengthMismatchError,
    );
    expect(() => checkLocalModel([1, 'x'], undefined, 'serializeTrainingResult result')).toThrow(
      'serializeTrainingResult result[1]: expected a finite number, got',
    );
  });
});

describe('handOver', () => {
  it('lets checkLocalModel take the array as it is, checked, once', () => {
    for (const model of [Float32Array.of(0.5, -1, 3), Float64Array.of(0.5, -1, 1e300)]) {
      expect(handOver(model)).toBe(model);
      const out = checkLocalModel(model, { modelLength: 3 });
      expect(out).toBe(model);
      expect(takeFreshModel(out)).toBe(true); // the Worker runtime may then move it
      // Handed over once: a second check copies, as for any app array.
      const again = checkLocalModel(model, undefined);
      expect(again).not.toBe(model);
      expect(Array.from(again)).toEqual(Array.from(model));
    }
  });

  it('still checks what it takes: a bad weight is named and the array left as it was', () => {
    const model = handOver(Float32Array.of(1, Number.NaN, 3));
    expect(() => checkLocalModel(model, undefined)).toThrow(
      new LocalModelDataTypeMismatchError('local model[1]: expected a finite number, got number NaN'),
    );
    expect(model.length).toBe(3);
    expect(takeHandedOver(model)).toBe(false); // taken by the failed check: not handed over twice
  });

  it('refuses what cannot be moved whole, with the reason', () => {
    const buffer = new ArrayBuffer(32);
    expect(() => handOver(new Float32Array(buffer, 4, 2))).toThrow(
      new TypeError(
        'handOver: the array covers bytes 4–12 of a 32-byte buffer; only an array over its whole buffer can be handed over (copy it with slice())',
      ),
    );
    expect(() => handOver(new Float64Array(buffer, 0, 2))).toThrow(TypeError);
    expect(() => handOver(new Float32Array(new SharedArrayBuffer(8)))).toThrow(
      'handOver: the array is over a SharedArrayBuffer, which cannot be moved',
    );
    expect(() => handOver([1, 2] as unknown as Float32Array)).toThrow(
      'handOver: expected a Float32Array or a Float64Array, got',
    );
    expect(takeHandedOver(new Float32Array(buffer, 4, 2))).toBe(false);
  });
});
