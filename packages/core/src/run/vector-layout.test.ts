import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isPetError } from '../errors.ts';
import {
  encodeContribution,
  globalLength,
  maskedLength,
  splitAverage,
  splitGlobal,
  type VectorLayout,
  validateVectorLayout,
} from './vector-layout.ts';

const layout: VectorLayout = {
  modelLength: 3,
  send: 'update',
  controlVariates: true,
  metrics: ['loss', 'accuracy'],
  maxExamples: 1000,
};

function code(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    if (isPetError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'no error';
}

describe('vector layout (docs/learning.md §2)', () => {
  it('lays the parts out in order: update, control delta, weight, metrics', () => {
    expect(maskedLength(layout)).toBe(3 + 3 + 1 + 2);
    expect(globalLength(layout)).toBe(6);
    const vector = encodeContribution(
      layout,
      {
        model: [1, 2, 3],
        controlDelta: [4, 5, 6],
        evaluation: { examples: 500, metrics: { loss: 0.25, accuracy: 0.75 } },
      },
      2,
    );
    // weight = n / (s · N) = 500 / 2000
    expect([...vector]).toEqual([1, 2, 3, 4, 5, 6, 0.25, 0.0625, 0.1875]);
    expect(maskedLength({ ...layout, controlVariates: false, metrics: [] })).toBe(3);
  });

  it('recovers the example-weighted mean of every metric whatever the scalars', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            scalar: fc.double({ min: 0.01, max: 10, noNaN: true }),
            examples: fc.integer({ min: 0, max: 1000 }),
            loss: fc.double({ min: -50, max: 50, noNaN: true }),
          }),
          { minLength: 1, maxLength: 20 },
        ),
        (participants) => {
          const one: VectorLayout = { ...layout, controlVariates: false, metrics: ['loss'] };
          const sum = new Float64Array(maskedLength(one));
          let scalars = 0;
          for (const p of participants) {
            const v = encodeContribution(
              one,
              { model: [0, 0, 0], evaluation: { examples: p.examples, metrics: { loss: p.loss } } },
              p.scalar,
            );
            for (let i = 0; i < v.length; i++) sum[i] = (sum[i] as number) + p.scalar * (v[i] as number);
            scalars += p.scalar;
          }
          const average = sum.map((x) => x / scalars);
          const examples = participants.reduce((n, p) => n + p.examples, 0);
          const { metrics } = splitAverage(one, average);
          if (examples === 0) {
            expect(metrics?.values).toBeNull();
            return;
          }
          const expected = participants.reduce((n, p) => n + p.examples * p.loss, 0) / examples;
          expect(metrics?.values?.['loss']).toBeCloseTo(expected, 9);
        },
      ),
    );
  });

  it('a scalar-0 participant or one without evaluation data adds no evaluation weight', () => {
    const a = encodeContribution(layout, { model: [0, 0, 0], controlDelta: [0, 0, 0], evaluation: null }, 1);
    const b = encodeContribution(
      layout,
      { model: [0, 0, 0], controlDelta: [0, 0, 0], evaluation: { examples: 9, metrics: { loss: 1, accuracy: 1 } } },
      0,
    );
    expect(a[6]).toBe(0);
    expect(b[6]).toBe(0);
    expect(splitAverage(layout, a).metrics).toEqual({ weight: 0, values: null });
  });

  it('clamps the examples to maxExamples', () => {
    const v = encodeContribution(
      { ...layout, controlVariates: false },
      { model: [0, 0, 0], evaluation: { examples: 5000, metrics: { loss: 2, accuracy: 1 } } },
      1,
    );
    expect([...v.subarray(3)]).toEqual([1, 2, 1]);
  });

  it('splits the unmasked average and the global model into views', () => {
    const average = Float64Array.from([1, 2, 3, 4, 5, 6, 0.5, 0.25, 0.4]);
    const split = splitAverage(layout, average);
    expect([...split.model]).toEqual([1, 2, 3]);
    expect([...(split.controlDelta ?? [])]).toEqual([4, 5, 6]);
    expect(split.metrics).toEqual({ weight: 0.5, values: { loss: 0.5, accuracy: 0.8 } });
    expect(split.model.buffer).toBe(average.buffer);
    const global = splitGlobal(layout, Float32Array.from([1, 2, 3, 7, 8, 9]));
    expect([...global.model]).toEqual([1, 2, 3]);
    expect([...(global.control ?? [])]).toEqual([7, 8, 9]);
  });

  it('refuses contributions that do not fit, naming the part', () => {
    expect(
      code(() => encodeContribution(layout, { model: [1, 2], controlDelta: [0, 0, 0], evaluation: null }, 1)),
    ).toBe('invalid-field: vector layout: model: expected 3 values, got 2');
    expect(code(() => encodeContribution(layout, { model: [1, 2, 3], evaluation: null }, 1))).toBe(
      'invalid-field: vector layout: controlDelta: expected 3 values, got none',
    );
    expect(
      code(() =>
        encodeContribution(
          layout,
          { model: [1, 2, 3], controlDelta: [0, 0, 0], evaluation: { examples: 1, metrics: { loss: 1 } } },
          1,
        ),
      ),
    ).toBe('invalid-field: vector layout: evaluation.metrics.accuracy: expected a finite number, got undefined');
    expect(
      code(() =>
        encodeContribution(
          layout,
          {
            model: [1, 2, 3],
            controlDelta: [0, 0, 0],
            evaluation: { examples: 1, metrics: { loss: 1, accuracy: 1, f1: 2 } },
          },
          1,
        ),
      ),
    ).toBe('invalid-field: vector layout: evaluation.metrics.f1: not a metric of the layout');
    expect(code(() => encodeContribution(layout, { model: [1, 2, 3], controlDelta: [0, 0, 0] }, 1))).toMatch(
      /pass an evaluation or null/,
    );
    expect(code(() => splitAverage(layout, new Float64Array(3)))).toBe(
      'invalid-field: vector layout: average: expected 9 values, got 3',
    );
  });

  it('validates layouts read from outside', () => {
    expect(validateVectorLayout({ ...layout })).toEqual(layout);
    expect(code(() => validateVectorLayout(null))).toMatch(/expected an object/);
    expect(code(() => validateVectorLayout({ ...layout, modelLength: 0 }))).toMatch(/modelLength: expected an integer/);
    expect(code(() => validateVectorLayout({ ...layout, send: 'gradient' }))).toMatch(/send: expected/);
    expect(code(() => validateVectorLayout({ ...layout, send: 'model' }))).toMatch(/SCAFFOLD needs send = "update"/);
    expect(code(() => validateVectorLayout({ ...layout, metrics: ['loss', 'loss'] }))).toMatch(/named twice/);
    expect(code(() => validateVectorLayout({ ...layout, metrics: ['bad name'] }))).toMatch(/expected names/);
    expect(code(() => validateVectorLayout({ ...layout, maxExamples: 1.5 }))).toMatch(/maxExamples/);
  });

  it('clips the update to the layout’s L2 norm before anything else is laid out', () => {
    const clipped: VectorLayout = { ...layout, controlVariates: false, metrics: [], clipNorm: 1 };
    const long = encodeContribution(clipped, { model: [3, 0, 4] }, 1);
    expect(long[0]).toBeCloseTo(0.6, 15);
    expect(long[2]).toBeCloseTo(0.8, 15);
    expect(Math.hypot(...long)).toBeLessThanOrEqual(1 + 1e-15);
    const short = encodeContribution(clipped, { model: [0.3, 0, 0.4] }, 1);
    expect([...short]).toEqual([0.3, 0, 0.4]);
    expect(code(() => encodeContribution(clipped, { model: [Number.NaN, 0, 0] }, 1))).toMatch(/entry 0 is NaN/);
    expect(code(() => validateVectorLayout({ ...clipped, clipNorm: 0 }))).toMatch(
      /clipNorm: expected a finite number > 0/,
    );
    expect(code(() => validateVectorLayout({ ...clipped, send: 'model' }))).toMatch(/clipping needs send = "update"/);
    expect(validateVectorLayout(clipped)).toEqual(clipped);
  });
});
