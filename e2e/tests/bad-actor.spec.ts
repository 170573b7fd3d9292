/**
 * A bad actor beside honest tabs: garbage, empty, oversized, truncated, bit-flipped,
 * ineligible, wrongly signed and replayed messages to `POST /message`, in the sum and
 * the update phase of every round. Each is refused with a 4xx; the honest rounds
 * complete, with exact weighted averages of the tabs' models. The volleys run in the phase
 * driver's `beforeEnd`: every sum and update phase gets one, with the phase held open for
 * it however long it takes, after the honest tabs' own messages (so their replays are there).
 */

import { type Answer, BadActor } from '../support/bad-actor.ts';
import { expect, test } from '../support/fixtures.ts';
import { completedRounds, expectExactRound, waitForCompletedRounds } from '../support/rounds.ts';

const TABS = 6;
const ROUNDS = 2;

test('garbage, truncated and replayed messages get 4xx; the honest rounds complete exactly', async ({
  coordinator,
  tabs,
  driver,
}) => {
  const actor = await BadActor.create(coordinator.url);
  const answers: Answer[] = [];
  const attacked = new Set<string>();
  // A volley in the sum and the update phase of every round, until ROUNDS rounds completed.
  driver.beforeEnd(async ({ roundId, phase }) => {
    if (phase === 'sum2') return;
    // The phase is still open: the driver ends it only once this returns.
    expect(coordinator.status(), 'the phase is open for the volley').toMatchObject({ roundId, phase });
    attacked.add(`${roundId}/${phase}`);
    answers.push(...(await actor.volley(tabs.all.flatMap((t) => t.messages.slice(-2)))));
  });
  const opened = await tabs.openMany(TABS);
  await waitForCompletedRounds(coordinator, ROUNDS);

  const summary = [...new Set(answers.map((a) => `${a.attack.replace(/ \d+$/, '')}: ${a.status} ${a.code}`))];
  test.info().annotations.push({ type: 'answers', description: summary.join('; ') });
  if (actor.transportErrors.length > 0) {
    // Shown, not failed: a request without any answer was sent again (bad-actor.ts); its answer is checked.
    test.info().annotations.push({ type: 'no answer, sent again', description: actor.transportErrors.join('; ') });
  }
  for (const a of answers) {
    expect(a.status >= 400 && a.status < 500, `${a.attack}: ${a.status} ${a.code}`).toBe(true);
  }
  // Both kinds of phase saw a volley (each held open by the driver while it ran).
  expect([...attacked].some((k) => k.endsWith('/sum'))).toBe(true);
  expect([...attacked].some((k) => k.endsWith('/update'))).toBe(true);
  expect(answers.some((a) => a.attack.startsWith('replay'))).toBe(true);

  const completed = completedRounds(await coordinator.history(), ROUNDS);
  for (const round of completed) await expectExactRound(coordinator, round, opened);
  // The coordinator counted the refusals (admin status: rejected messages by code).
  const status = (await coordinator.admin('/admin/status')) as { messages: { rejected: Record<string, number> } };
  expect(status.messages.rejected['decrypt-failed']).toBeGreaterThan(0);
});
