/**
 * Block scoping → function scoping, for the Hermes bundle.
 *
 * Hermes 0.12 parses `let` and `const` but gives them `var` semantics: one
 * binding per function. So an inner `const x` overwrites an outer `x` of the
 * same function, a `let` without initializer keeps the last iteration's value,
 * and every closure made in a loop sees the last iteration's variable — e.g.
 * `for (const p of ps) fns.push(() => p)` makes closures that all see the last
 * `p`. Metro's Babel preset lowers block scoping for Hermes; this pass does
 * the same much smaller job on the bundle, like Babel's transform:
 *
 * - every `let`/`const` declared in a block (not at a function's top level)
 *   gets a name unique in the whole script, so no two share a binding;
 * - a `let` without initializer in a block gets `= void 0`;
 * - a closure created in a loop that captures a variable of that loop's
 *   iteration is wrapped as `((v) => closure)(v)`, which snapshots the
 *   iteration's value. That is exact for `const` and for a loop counter; a
 *   captured `let` assigned anywhere but in the `for` update clause is
 *   refused, as is a function declaration that captures one.
 */

import { children, type Node, parseScript, unsupported as unsupportedIn } from './ast.ts';

type BindingKind = 'var' | 'let' | 'const' | 'param' | 'function' | 'callee' | 'catch';

interface Scope {
  readonly node: Node;
  readonly parent: Scope | undefined;
  readonly isFunction: boolean;
  /** The innermost loop of the same function whose every iteration makes this scope anew. */
  readonly loop: Node | undefined;
  readonly bindings: Map<string, Binding>;
}

interface Binding {
  readonly name: string;
  readonly kind: BindingKind;
  readonly scope: Scope;
  newName: string | undefined;
  /** Identifiers assigned to (besides the declaration). */
  readonly writes: Reference[];
}

interface Reference {
  readonly id: Node;
  readonly scope: Scope;
  /** The binding, when the identifier is a declaration. */
  readonly declares: Binding | undefined;
  /** The `for` statement whose update clause this write is in. */
  readonly inUpdateOf: Node | undefined;
  binding?: Binding | undefined;
}

export interface BlockScopingResult {
  readonly code: string;
  /** Block-scoped bindings given unique names. */
  readonly renamed: number;
  /** Closures wrapped to snapshot loop variables. */
  readonly wrapped: number;
}

export function lowerBlockScoping(source: string): BlockScopingResult {
  const program = parseScript(source);
  const references: Reference[] = [];
  const writes: Reference[] = [];
  const identifierNames = new Set<string>();
  /** `let` declarations heading a for-in/of loop: these cannot take an initializer. */
  const forHeads = new Set<Node>();
  /** Function values of object-literal methods and accessors, with their property. */
  const methodOf = new Map<Node, Node>();
  const rootScope = newScope(program, undefined, true, undefined);

  // Pass 1: scopes, declarations and references.
  const declare = (scope: Scope, name: string, kind: BindingKind): Binding => {
    const target = kind === 'var' || kind === 'function' ? functionScope(scope) : scope;
    const existing = target.bindings.get(name);
    if (existing !== undefined && existing.kind !== 'callee') return existing;
    const binding: Binding = { name, kind, scope: target, newName: undefined, writes: [] };
    target.bindings.set(name, binding);
    return binding;
  };

  const reference = (id: Node, scope: Scope, write: boolean, inUpdateOf: Node | undefined): void => {
    identifierNames.add(id['name'] as string);
    const ref: Reference = { id, scope, declares: undefined, inUpdateOf };
    references.push(ref);
    if (write) writes.push(ref);
  };

  /** Declares the identifiers of a binding pattern; walks its defaults and computed keys. */
  const pattern = (node: Node, scope: Scope, kind: BindingKind | undefined, loop: Node | undefined): void => {
    switch (node.type) {
      case 'Identifier': {
        const name = node['name'] as string;
        identifierNames.add(name);
        if (kind === undefined) {
          reference(node, scope, true, undefined); // a destructuring assignment's target
        } else {
          references.push({ id: node, scope, declares: declare(scope, name, kind), inUpdateOf: undefined });
        }
        return;
      }
      case 'ObjectPattern':
        for (const property of node['properties'] as Node[]) {
          if (property.type === 'RestElement') {
            pattern(property['argument'] as Node, scope, kind, loop);
          } else {
            if (property['computed'] === true) walk(property['key'] as Node, scope, loop);
            pattern(property['value'] as Node, scope, kind, loop);
          }
        }
        return;
      case 'ArrayPattern':
        for (const element of node['elements'] as (Node | null)[])
          if (element !== null) pattern(element, scope, kind, loop);
        return;
      case 'AssignmentPattern':
        pattern(node['left'] as Node, scope, kind, loop);
        walk(node['right'] as Node, scope, loop);
        return;
      case 'RestElement':
        pattern(node['argument'] as Node, scope, kind, loop);
        return;
      default:
        // A member expression target of a destructuring assignment: an expression.
        if (kind !== undefined) throw unsupported(node, `${node.type} in a declaration`);
        walk(node, scope, loop);
    }
  };

  const func = (node: Node, scope: Scope): void => {
    const inner = newScope(node, scope, true, undefined);
    const id = node['id'] as Node | null | undefined;
    if (node.type === 'FunctionExpression' && id) {
      references.push({
        id,
        scope: inner,
        declares: declare(inner, id['name'] as string, 'callee'),
        inUpdateOf: undefined,
      });
    }
    for (const param of node['params'] as Node[]) pattern(param, inner, 'param', undefined);
    const body = node['body'] as Node;
    if (body.type === 'BlockStatement')
      for (const statement of body['body'] as Node[]) walk(statement, inner, undefined);
    else walk(body, inner, undefined);
  };

  const walk = (node: Node, scope: Scope, loop: Node | undefined, inUpdateOf?: Node): void => {
    switch (node.type) {
      case 'Identifier':
        reference(node, scope, false, undefined);
        return;
      case 'FunctionDeclaration': {
        const id = node['id'] as Node;
        references.push({
          id,
          scope,
          declares: declare(scope, id['name'] as string, 'function'),
          inUpdateOf: undefined,
        });
        func(node, scope);
        return;
      }
      case 'FunctionExpression':
      case 'ArrowFunctionExpression':
        func(node, scope);
        return;
      case 'ClassDeclaration':
      case 'ClassExpression':
        throw unsupported(node, 'a class (lower classes first)');
      case 'VariableDeclaration': {
        const kind = node['kind'] as string;
        if (kind !== 'var' && kind !== 'let' && kind !== 'const') throw unsupported(node, `a ${kind} declaration`);
        for (const declarator of node['declarations'] as Node[]) {
          pattern(declarator['id'] as Node, scope, kind, loop);
          const init = declarator['init'] as Node | null;
          if (init !== null) walk(init, scope, loop);
        }
        return;
      }
      case 'BlockStatement': {
        const inner = newScope(node, scope, false, loop);
        for (const statement of node['body'] as Node[]) walk(statement, inner, loop);
        return;
      }
      case 'ForStatement': {
        const head = newScope(node, scope, false, node);
        const init = node['init'] as Node | null;
        if (init !== null) walk(init, head, node);
        const test = node['test'] as Node | null;
        if (test !== null) walk(test, head, node);
        const update = node['update'] as Node | null;
        if (update !== null) walk(update, head, node, node);
        walk(node['body'] as Node, head, node);
        return;
      }
      case 'ForInStatement':
      case 'ForOfStatement': {
        walk(node['right'] as Node, scope, loop);
        const head = newScope(node, scope, false, node);
        const left = node['left'] as Node;
        if (left.type === 'VariableDeclaration') {
          forHeads.add(left);
          const kind = left['kind'] as BindingKind;
          for (const declarator of left['declarations'] as Node[]) pattern(declarator['id'] as Node, head, kind, node);
        } else {
          pattern(left, head, undefined, node);
        }
        walk(node['body'] as Node, head, node);
        return;
      }
      case 'WhileStatement':
      case 'DoWhileStatement':
        walk(node['test'] as Node, scope, node);
        walk(node['body'] as Node, scope, node);
        return;
      case 'CatchClause': {
        const inner = newScope(node, scope, false, loop);
        const param = node['param'] as Node | null;
        if (param !== null) pattern(param, inner, 'catch', loop);
        walk(node['body'] as Node, inner, loop);
        return;
      }
      case 'SwitchStatement': {
        walk(node['discriminant'] as Node, scope, loop);
        const inner = newScope(node, scope, false, loop);
        for (const c of node['cases'] as Node[]) walk(c, inner, loop);
        return;
      }
      case 'AssignmentExpression': {
        const left = node['left'] as Node;
        if (left.type === 'Identifier') reference(left, scope, true, inUpdateOf);
        else pattern(left, scope, undefined, loop);
        walk(node['right'] as Node, scope, loop, inUpdateOf);
        return;
      }
      case 'UpdateExpression': {
        const argument = node['argument'] as Node;
        if (argument.type === 'Identifier') reference(argument, scope, true, inUpdateOf);
        else walk(argument, scope, loop, inUpdateOf);
        return;
      }
      case 'MemberExpression':
        walk(node['object'] as Node, scope, loop, inUpdateOf);
        if (node['computed'] === true) walk(node['property'] as Node, scope, loop, inUpdateOf);
        return;
      case 'Property':
        if (node['computed'] === true) walk(node['key'] as Node, scope, loop, inUpdateOf);
        if (node['method'] === true || node['kind'] !== 'init') methodOf.set(node['value'] as Node, node);
        walk(node['value'] as Node, scope, loop, inUpdateOf);
        return;
      case 'MethodDefinition':
      case 'PropertyDefinition':
        throw unsupported(node, 'a class member (lower classes first)');
      case 'LabeledStatement':
        walk(node['body'] as Node, scope, loop);
        return;
      case 'BreakStatement':
      case 'ContinueStatement':
      case 'MetaProperty':
        return;
      default:
        for (const child of children(node)) walk(child, scope, loop, inUpdateOf);
    }
  };

  for (const statement of program['body'] as Node[]) walk(statement, rootScope, undefined);

  // Pass 2: resolve references; unique names for block-scoped bindings.
  for (const ref of references) ref.binding = ref.declares ?? resolve(ref.scope, ref.id['name'] as string);
  for (const ref of writes) ref.binding?.writes.push(ref);
  const renamed = new Set<Binding>();
  const names = new Map<Node, string>();
  const fresh = (name: string): string => {
    for (let n = 1; ; n++) {
      const candidate = `${name}$${n}`;
      if (!identifierNames.has(candidate)) {
        identifierNames.add(candidate);
        return candidate;
      }
    }
  };
  for (const ref of references) {
    const binding = ref.binding;
    if (binding === undefined || binding.scope.isFunction || (binding.kind !== 'let' && binding.kind !== 'const')) {
      continue;
    }
    if (binding.newName === undefined) {
      binding.newName = fresh(binding.name);
      renamed.add(binding);
    }
    names.set(ref.id, binding.newName);
  }

  // Closures in a loop that capture a variable of the loop's iteration.
  const captures = new Map<Node, Set<Binding>>();
  for (const ref of references) {
    const binding = ref.binding;
    if (binding === undefined || binding.scope.loop === undefined || !renamed.has(binding)) continue;
    let closure: Node | undefined;
    for (let s: Scope | undefined = ref.scope; s !== undefined && s !== binding.scope; s = s.parent) {
      if (s.isFunction) closure = s.node;
    }
    if (closure === undefined) continue;
    if (closure.type === 'FunctionDeclaration')
      throw unsupported(closure, 'a function declaration capturing a loop variable');
    for (const write of binding.writes) {
      if (write.inUpdateOf !== binding.scope.node) {
        throw unsupported(write.id, `assigning to \`${binding.name}\`, a loop variable a closure captures`);
      }
    }
    const set = captures.get(closure) ?? new Set<Binding>();
    captures.set(closure, set.add(binding));
  }

  // Emit.
  const shorthandRenamed = (property: Node): boolean => {
    const value = property['value'] as Node;
    const id = value.type === 'AssignmentPattern' ? (value['left'] as Node) : value;
    return names.has(id);
  };
  const emit = (node: Node): string => {
    if (node.type === 'Identifier') {
      const name = names.get(node);
      if (name !== undefined) return name;
    }
    if (node.type === 'Property' && node['shorthand'] === true && shorthandRenamed(node)) {
      return `${(node['key'] as Node)['name'] as string}: ${emit(node['value'] as Node)}`;
    }
    if (node.type === 'Property' && captures.has(node['value'] as Node) && methodOf.has(node['value'] as Node)) {
      // `{ m() {…} }` → `{ m: ((v) => (function () {…}))(v) }`: a method's value has no `function`.
      const value = node['value'] as Node;
      if (node['kind'] !== 'init') throw unsupported(node, 'an accessor capturing a loop variable');
      const key = node['key'] as Node;
      const keyText = node['computed'] === true ? `[${emit(key)}]` : source.slice(key.start, key.end);
      const prefix = `${value['async'] === true ? 'async ' : ''}function${value['generator'] === true ? '*' : ''} `;
      return `${keyText}: ${wrap(value, prefix)}`;
    }
    if (node.type === 'VariableDeclaration' && node['kind'] === 'let' && !forHeads.has(node)) {
      // `let x;` in a block: `let x = void 0;`, else it would keep the value of an earlier pass.
      const parts = (node['declarations'] as Node[]).map((d) => {
        const text = emitChildren(d);
        return d['init'] === null && names.has(d['id'] as Node) ? `${text} = void 0` : text;
      });
      const tail = source.slice((node['declarations'] as Node[]).at(-1)?.end ?? node.end, node.end);
      return `let ${parts.join(', ')}${tail}`;
    }
    if (captures.has(node) && !methodOf.has(node)) return wrap(node, '');
    return emitChildren(node);
  };
  /** The closure called with the loop variables it captures, so it keeps this iteration's values. */
  const wrap = (closure: Node, prefix: string): string => {
    const vars = [...(captures.get(closure) ?? [])].map((b) => b.newName).join(', ');
    return `((${vars}) => (${prefix}${emitChildren(closure)}))(${vars})`;
  };
  const emitChildren = (node: Node): string => {
    let text = '';
    let pos = node.start;
    for (const child of children(node)) {
      if (child.start < pos) continue; // a shorthand property's key and value share one range
      text += source.slice(pos, child.start) + emit(child);
      pos = child.end;
    }
    return text + source.slice(pos, node.end);
  };

  return { code: emit(program), renamed: renamed.size, wrapped: captures.size };
}

function newScope(node: Node, parent: Scope | undefined, isFunction: boolean, loop: Node | undefined): Scope {
  return { node, parent, isFunction, loop: isFunction ? undefined : loop, bindings: new Map() };
}

function functionScope(scope: Scope): Scope {
  let s = scope;
  while (!s.isFunction && s.parent !== undefined) s = s.parent;
  return s;
}

function resolve(scope: Scope, name: string): Binding | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const binding = s.bindings.get(name);
    if (binding !== undefined) return binding;
  }
  return undefined;
}

function unsupported(node: Node, what: string): Error {
  return unsupportedIn('lowerBlockScoping', node, what);
}
