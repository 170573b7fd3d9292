/**
 * The little the lowering passes need of an ESTree AST: Vite's `parseAst`
 * (Oxc's parser, with UTF-16 `start`/`end` offsets) and a child walk.
 */

import { parseAst } from 'vite';

export interface Node {
  readonly type: string;
  readonly start: number;
  readonly end: number;
  readonly [key: string]: unknown;
}

export function parseScript(source: string): Node {
  return parseAst(source) as unknown as Node;
}

/** A node's child nodes in source order (longest first where two start together). */
export function children(node: Node): Node[] {
  const out: Node[] = [];
  for (const key of Object.keys(node)) {
    const value = node[key];
    if (Array.isArray(value)) {
      for (const item of value) if (isNode(item)) out.push(item);
    } else if (isNode(value)) {
      out.push(value);
    }
  }
  return out.sort((a, b) => a.start - b.start || b.end - a.end);
}

export function isNode(value: unknown): value is Node {
  return typeof value === 'object' && value !== null && typeof (value as { type?: unknown }).type === 'string';
}

export function unsupported(pass: string, node: Node, what: string): Error {
  return new Error(`${pass}: ${what} at offset ${node.start} is not supported`);
}
