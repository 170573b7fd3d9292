/**
 * A bad actor beside honest tabs: garbage, empty, oversized, truncated, bit-flipped,
 * ineligible, wrongly signed and replayed messages to `POST /message`, in the sum and
 * the update phase of every round. Each is refused with a 4xx; the honest rounds
 * complete, with exact weighted averages of the tabs' models.
 */

import { type Answer, BadActor } from '../support/bad-actor.ts';
import { expect, test } from '../support/fixtures.ts';
import { completedRounds, expectExactRound } from '../support/rounds.ts';

const TABS = 6;
const ROUNDS = 2;

test('garbage, truncated and replayed messages get 4xx; the honest rounds complete exactly', async ({
  coordinator,
  tabs,
}) => {
  const actor = await BadActor.create(coordinator.url);
  const opened = await tabs.openMany(TABS);
  const answers: Answer[] = [];
  const attacked = new Set<string>();
  // A volley in the sum and the update phase of every round, until ROUNDS rounds completed.
  await expect
    .poll(
      async () => {
        const { roundId, phase } = coordinator.status();
        const key = `${roundId}/${phase}`;
        if ((phase === 'sum' || phase === 'update') && !attacked.has(key)) {
          // The coordinator's clock is held for the volley: the phase cannot end under it, however
          // long the volley takes on a loaded machine (the honest tabs' messages still count).
          coordinator.clock.hold();
          try {
            const now = coordinator.status();
            if (`${now.roundId}/${now.phase}` === key) {
              attacked.add(key);
              answers.push(...(await actor.volley(opened.flatMap((t) => t.messages.slice(-2)))));
            }
          } finally {
            coordinator.clock.release();
          }
        }
        return (await coordinator.history()).filter((r) => r.outcome === 'completed').length;
      },
      { timeout: 150_000, intervals: [100], message: `${ROUNDS} completed rounds under attack` },
    )
    .toBeGreaterThanOrEqual(ROUNDS);

  const summary = [...new Set(answers.map((a) => `${a.attack.replace(/ \d+$/, '')}: ${a.status} ${a.code}`))];
  test.info().annotations.push({ type: 'answers', description: summary.join('; ') });
  for (const a of answers) {
    expect(a.status >= 400 && a.status < 500, `${a.attack}: ${a.status} ${a.code}`).toBe(true);
  }
  // Both kinds of phase saw a volley (each held open by the clock while it ran).
  expect([...attacked].some((k) => k.endsWith('/sum'))).toBe(true);
  expect([...attacked].some((k) => k.endsWith('/update'))).toBe(true);
  expect(answers.some((a) => a.attack.startsWith('replay'))).toBe(true);

  const completed = completedRounds(await coordinator.history(), ROUNDS);
  for (const round of completed) await expectExactRound(coordinator, round, opened);
  // The coordinator counted the refusals (admin status: rejected messages by code).
  const status = (await coordinator.admin('/admin/status')) as { messages: { rejected: Record<string, number> } };
  expect(status.messages.rejected['decrypt-failed']).toBeGreaterThan(0);
});
