import type { VectorLayout } from '@petfl/sdk';
import { describe, expect, it } from 'vitest';
import type { Scores } from '../evaluate.ts';
import { RunContributor, tabRunProblem } from './run-contribution.ts';
import type { TrainedEpoch } from './trainer.ts';

const layout: VectorLayout = {
  modelLength: 3,
  send: 'update',
  controlVariates: false,
  metrics: ['loss', 'accuracy'],
  maxExamples: 1000,
};

function contributor(over: Partial<VectorLayout> = {}, examples = 50) {
  const scored: (Float32Array | Float64Array)[] = [];
  const run = new RunContributor({
    layout: { ...layout, ...over },
    weights: 3,
    scalar: 400,
    examples,
    score: (model): Scores => {
      scored.push(model);
      return { loss: 0.5, accuracy: 0.75 };
    },
  });
  return { run, scored };
}

const base = { roundId: 4, model: Float32Array.of(1, 2, 3) };
const epoch: TrainedEpoch = { weights: Float32Array.of(1.5, 1, 3.25), base };

describe('tabRunProblem', () => {
  it('accepts a run the tab can join, and names what it cannot do', () => {
    expect(tabRunProblem(layout, 3)).toBeUndefined();
    expect(tabRunProblem({ ...layout, metrics: [] }, 3)).toBeUndefined();
    expect(tabRunProblem(layout, 4)).toMatch(/3 weights, this page's 4/);
    expect(tabRunProblem({ ...layout, controlVariates: true }, 3)).toMatch(/SCAFFOLD/);
    expect(tabRunProblem({ ...layout, metrics: ['loss', 'f1'] }, 3)).toMatch(
      /"f1"; this page reports loss and accuracy/,
    );
    expect(() => contributor({ controlVariates: true })).toThrow(/SCAFFOLD/);
  });
});

describe('RunContributor', () => {
  it('sends the update from the base the epoch trained from, and its evaluation of that base', async () => {
    const { run, scored } = contributor();
    const vector = await run.contribution(epoch);
    // [y − x | n/(s·N) | n·loss/(s·N) | n·accuracy/(s·N)], docs/learning.md §2
    const weight = 50 / (400 * 1000);
    expect(Array.from(vector)).toEqual(Array.from(Float32Array.of(0.5, -1, 0.25, weight, weight * 0.5, weight * 0.75)));
    expect(scored).toEqual([base.model]);
  });

  it('evaluates each base once, also when asked twice at once; a stale epoch is relative to its own, older base', async () => {
    const { run, scored } = contributor();
    await Promise.all([run.contribution(epoch), run.contribution({ ...epoch, weights: Float32Array.of(0, 0, 0) })]);
    await run.contribution({ ...epoch, weights: Float32Array.of(1, 1, 1) });
    const newer = { roundId: 5, model: Float32Array.of(2, 2, 2) };
    const vector = await run.contribution({ weights: Float32Array.of(3, 3, 3), base: newer });
    expect(scored).toEqual([base.model, newer.model]);
    expect(Array.from(vector.subarray(0, 3))).toEqual([1, 1, 1]);
  });

  it('sends the weights when the run asks for models; nothing held out is no evaluation', async () => {
    const { run, scored } = contributor({ send: 'model' }, 0);
    expect(Array.from(await run.contribution(epoch))).toEqual([1.5, 1, 3.25, 0, 0, 0]);
    expect(scored).toEqual([]);
  });

  it('without metrics the vector is the update alone', async () => {
    const { run } = contributor({ metrics: [] });
    expect(Array.from(await run.contribution(epoch))).toEqual([0.5, -1, 0.25]);
  });
});
