/**
 * Bench results as indented JSON with each list of plain values and each object of plain values
 * on one line: a run's curve is hundreds of small records (bench:convergence, bench:privacy).
 */

import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeCompactJson(path: string, document: unknown): void {
  const value = String.raw`(?:-?[\d.e+-]+|"[^"\n]*"|true|false|null|\[[^\[\]{}\n]*\])`;
  const text = JSON.stringify(document, null, 2)
    .replace(
      new RegExp(String.raw`\[\s*(${value}(?:,\s*${value})*)\s*\]`, 'g'),
      (_, items: string) => `[${items.replace(/,\s+/g, ', ')}]`,
    )
    .replace(
      new RegExp(String.raw`\{\s*("[^"\n]*": ${value}(?:,\s*"[^"\n]*": ${value})*)\s*\}`, 'g'),
      (_, fields: string) => `{ ${fields.replace(/,\n\s*/g, ', ')} }`,
    );
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${text}\n`);
}
