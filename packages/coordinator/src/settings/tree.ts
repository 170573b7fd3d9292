/**
 * Settings as plain data before they are validated: TOML tables and JSON
 * objects (a `Tree`), merged one over another and addressed by path
 * (`['pet', 'sum', 'count', 'min']`).
 */

export type Tree = { [key: string]: unknown };

export const isTree = (value: unknown): value is Tree =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** Deep merge: `over` wins; tables merge key by key. */
export function merge(base: Tree, over: Tree): Tree {
  const out: Tree = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const under = Object.hasOwn(out, key) ? out[key] : undefined;
    // Defined, not assigned: a JSON key `__proto__` stays a key and never becomes the prototype.
    Object.defineProperty(out, key, {
      value: isTree(under) && isTree(value) ? merge(under, value) : value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

/** Every leaf path of a tree, e.g. ['pet', 'sum', 'count', 'min']. */
export function leafPaths(tree: Tree, prefix: readonly string[] = []): string[][] {
  return Object.entries(tree).flatMap(([key, value]) =>
    isTree(value) ? leafPaths(value, [...prefix, key]) : [[...prefix, key]],
  );
}

export function getPath(tree: Tree, path: readonly string[]): unknown {
  let node: unknown = tree;
  for (const key of path) node = isTree(node) ? node[key] : undefined;
  return node;
}

/** Sets the value at `path`, making (or replacing non-tables with) tables on the way. */
export function setPath(tree: Tree, path: readonly string[], value: unknown): void {
  let node = tree;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (isTree(next)) node = next;
    else {
      const made: Tree = {};
      node[key] = made;
      node = made;
    }
  }
  const last = path[path.length - 1];
  if (last !== undefined) node[last] = value;
}
