// A Node module-resolution hook that adds the `@petfl/source` export condition, so the
// repository's packages resolve to their TypeScript sources (docs/architecture.md §8) in a
// process that was started without `--conditions=@petfl/source`. Registered by the in-repo
// launchers (packages/coordinator/bin/petfl-coordinator.mjs) together with tsx's loader.
export async function resolve(specifier, context, nextResolve) {
  if (context.conditions.includes('@petfl/source')) return nextResolve(specifier, context);
  return nextResolve(specifier, { ...context, conditions: ['@petfl/source', ...context.conditions] });
}
