/**
 * Waiting on visible state (architecture.md §7.7): poll a condition — usually a
 * `page.evaluate` of the participant's snapshot — until it holds, never a
 * fixed sleep. The poll interval only paces the checks.
 */

export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false> | T | undefined | null | false,
  timeoutMs = 60_000,
  /** What to add to the timeout error, to tell why. */
  diagnose?: () => Promise<string> | string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) {
      const detail = diagnose === undefined ? '' : `\n${await diagnose()}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
