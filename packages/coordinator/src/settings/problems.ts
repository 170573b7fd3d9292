/**
 * Valibot's issues as the problem lines a `SettingsError` lists:
 * `path: expected X, got Y`, the path in the file's names (`pet.sum.count.min`,
 * `admission.allowlist[2]`). Keys that are not settings come first, then the
 * values, each in the order of the settings.
 */

import type * as v from 'valibot';

function line(issue: v.BaseIssue<unknown>, prefix: readonly string[]): string {
  let path = prefix.join('.');
  for (const item of issue.path ?? []) {
    path =
      typeof item.key === 'number' ? `${path}[${item.key}]` : path === '' ? String(item.key) : `${path}.${item.key}`;
  }
  return path === '' ? issue.message : `${path}: ${issue.message}`;
}

/** The problem lines of `issues`, each path under `prefix` (`['pet']` for `PUT /admin/settings`). */
export function problemLines(issues: readonly v.BaseIssue<unknown>[], prefix: readonly string[] = []): string[] {
  const notSettings = issues.filter((issue) => issue.type === 'never');
  const values = issues.filter((issue) => issue.type !== 'never');
  return [...notSettings, ...values].map((issue) => line(issue, prefix));
}
