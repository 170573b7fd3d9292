/**
 * Class syntax → ES5 constructor functions, for the Hermes bundle.
 *
 * Hermes 0.12 (the `hermes` of hermes-engine-cli) rejects `class` outright
 * ("invalid statement encountered"); a React Native app never notices because
 * Metro's Babel preset (@react-native/babel-preset) lowers classes before
 * Hermes sees them. esbuild cannot lower classes ("Transforming class syntax
 * … is not supported yet") and TypeScript 7 dropped `target: ES5`, and Babel
 * is not installed here, so this test does that one step itself, on the
 * bundle esbuild wrote (fields and private members are already lowered by
 * esbuild at the bundle's target, so only constructors, methods, accessors,
 * `extends` and `super` remain).
 *
 * The lowering follows Babel's: a derived constructor builds its object with
 * `Reflect.construct(Super, args, new.target)` (so `extends Error` makes real
 * Error objects) and uses it in place of `this`; methods and accessors are
 * non-enumerable properties of the prototype or the constructor; `super.m`
 * reads the home object's prototype with `Reflect.get`. Anything else a class
 * could hold (class fields, static blocks, private names, assigning to
 * `super.x`) is refused with an error, never guessed at.
 */

import { children, type Node, parseScript, unsupported as unsupportedIn } from './ast.ts';

/** Where `this` and `super` point inside the code being emitted. */
interface Context {
  /** Replaces `this` (a derived constructor's object, once `super()` made it). */
  readonly thisName: string | undefined;
  /** `super.x` reads from here (`Super.prototype`, or `Super` in static members). */
  readonly superHome: string | undefined;
  /** The superclass, for `super(...)` calls. */
  readonly superName: string | undefined;
  /** Directly in a derived constructor: a bare `return;` returns the object. */
  readonly inDerivedConstructor: boolean;
}

const NEUTRAL: Context = {
  thisName: undefined,
  superHome: undefined,
  superName: undefined,
  inDerivedConstructor: false,
};

/** Defines the helpers the lowered classes call; prepended once to the output. */
export const LOWER_CLASSES_RUNTIME = `function __lowerClassMembers(target, members) {
  for (var i = 0; i < members.length; i++) {
    var kind = members[i][0], key = members[i][1], fn = members[i][2];
    if (kind === 'method') {
      Object.defineProperty(target, key, { value: fn, writable: true, configurable: true, enumerable: false });
    } else {
      var previous = Object.getOwnPropertyDescriptor(target, key);
      var descriptor = { configurable: true, enumerable: false, get: previous && previous.get, set: previous && previous.set };
      descriptor[kind] = fn;
      Object.defineProperty(target, key, descriptor);
    }
  }
}
function __lowerClass(C, S, proto, statics) {
  if (S !== null) {
    if (typeof S !== 'function') throw new TypeError('Class extends value ' + String(S) + ' is not a constructor');
    C.prototype = Object.create(S.prototype, { constructor: { value: C, writable: true, configurable: true } });
    Object.setPrototypeOf(C, S);
  }
  __lowerClassMembers(C.prototype, proto);
  __lowerClassMembers(C, statics);
  return C;
}
`;

/** Rewrites every class in `source` (a script) into ES5 constructor functions. */
export function lowerClasses(source: string): string {
  const program = parseScript(source);
  // Only subtrees that contain one of these words can hold something to rewrite.
  const marks: number[] = [];
  for (const match of source.matchAll(/\b(?:class|super)\b/g)) marks.push(match.index);
  let counter = 0;

  const mayContainClass = (node: Node): boolean => {
    let lo = 0;
    let hi = marks.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((marks[mid] as number) < node.start) lo = mid + 1;
      else hi = mid;
    }
    return lo < marks.length && (marks[lo] as number) < node.end;
  };

  /**
   * The text of `node` from `from` to `to`, with everything inside rewritten. `parent` is the
   * node it sits in (a class expression takes its name from a declarator).
   */
  const emit = (node: Node, ctx: Context, parent?: Node, from = node.start, to = node.end, own = false): string => {
    if (!own && from === node.start && to === node.end) {
      const rewritten = rewrite(node, ctx, parent);
      if (rewritten !== undefined) return rewritten;
    }
    if (ctx === NEUTRAL && !mayContainClass(node)) return source.slice(from, to);
    // `own`: a method's or constructor's own function, whose body `ctx` describes.
    const inner = own ? ctx : contextInside(node, ctx);
    let text = '';
    let pos = from;
    for (const child of children(node)) {
      // A shorthand property's key and value share one range: emit it once.
      if (child.start < pos || child.start < from || child.end > to) continue;
      text += source.slice(pos, child.start) + emit(child, inner, node);
      pos = child.end;
    }
    return text + source.slice(pos, to);
  };

  const rewrite = (node: Node, ctx: Context, parent: Node | undefined): string | undefined => {
    switch (node.type) {
      case 'ClassDeclaration': {
        const id = node['id'] as Node | null;
        if (id === null) throw unsupported(node, 'a class declaration without a name');
        return `let ${id['name'] as string} = ${lowerClass(node, ctx, id['name'] as string)};`;
      }
      case 'ClassExpression': {
        const id = node['id'] as Node | null;
        const hint =
          parent?.type === 'VariableDeclarator' && (parent['id'] as Node).type === 'Identifier'
            ? ((parent['id'] as Node)['name'] as string)
            : undefined;
        return lowerClass(node, ctx, (id?.['name'] as string | undefined) ?? hint);
      }
      case 'ThisExpression':
        return ctx.thisName;
      case 'Super':
        throw unsupported(node, '`super` outside a call or member read');
      case 'ReturnStatement':
        if (ctx.inDerivedConstructor && node['argument'] === null) return `return ${ctx.thisName as string};`;
        return undefined;
      case 'CallExpression': {
        const callee = node['callee'] as Node;
        const args = (node['arguments'] as Node[]).map((arg) => emit(arg, ctx, node)).join(', ');
        if (callee.type === 'Super') {
          if (ctx.superName === undefined || ctx.thisName === undefined) {
            throw unsupported(node, '`super()` outside a derived constructor');
          }
          return `(${ctx.thisName} = Reflect.construct(${ctx.superName}, [${args}], new.target))`;
        }
        if (callee.type === 'MemberExpression' && (callee['object'] as Node).type === 'Super') {
          const receiver = ctx.thisName ?? 'this';
          return `${superRead(callee, ctx)}.call(${receiver}${args === '' ? '' : `, ${args}`})`;
        }
        return undefined;
      }
      case 'MemberExpression':
        if ((node['object'] as Node).type !== 'Super') return undefined;
        if (parent?.type === 'AssignmentExpression' && parent['left'] === node) {
          throw unsupported(node, 'assigning to a `super` property');
        }
        return superRead(node, ctx);
      case 'PropertyDefinition':
      case 'AccessorProperty':
      case 'StaticBlock':
      case 'PrivateIdentifier':
        throw unsupported(node, node.type);
      default:
        return undefined;
    }
  };

  const superRead = (member: Node, ctx: Context): string => {
    if (ctx.superHome === undefined) throw unsupported(member, '`super.x` outside a class member');
    const property = member['property'] as Node;
    const key = member['computed'] === true ? emit(property, ctx, member) : JSON.stringify(property['name']);
    return `Reflect.get(${ctx.superHome}, ${key}, ${ctx.thisName ?? 'this'})`;
  };

  const lowerClass = (node: Node, outer: Context, name: string | undefined): string => {
    const n = ++counter;
    const className = name ?? `__class${n}`;
    const superClass = node['superClass'] as Node | null;
    const superName = superClass === null ? undefined : `__super${n}`;
    const members = (node['body'] as Node)['body'] as Node[];
    let constructorText: string | undefined;
    const proto: string[] = [];
    const statics: string[] = [];
    for (const member of members) {
      if (member.type !== 'MethodDefinition') throw unsupported(member, member.type);
      const value = member['value'] as Node;
      const isStatic = member['static'] === true;
      const home = isStatic ? (superName ?? 'Function.prototype') : `${superName ?? 'Object'}.prototype`;
      if (member['kind'] === 'constructor') {
        constructorText = lowerConstructor(className, value, superName);
        continue;
      }
      const ctx: Context = { thisName: undefined, superHome: home, superName: undefined, inDerivedConstructor: false };
      const key = member['key'] as Node;
      if (key.type === 'PrivateIdentifier') throw unsupported(key, 'a private method');
      const keyText =
        member['computed'] === true
          ? emit(key, outer, member)
          : key.type === 'Identifier'
            ? JSON.stringify(key['name'])
            : source.slice(key.start, key.end);
      const fn = `${value['async'] === true ? 'async ' : ''}function${value['generator'] === true ? '*' : ''} ${emit(value, ctx, member, value.start, value.end, true)}`;
      (isStatic ? statics : proto).push(`[${JSON.stringify(member['kind'])}, ${keyText}, ${fn}]`);
    }
    constructorText ??=
      superName === undefined
        ? `function ${className}() {}`
        : `function ${className}() { return Reflect.construct(${superName}, arguments, new.target); }`;
    const superText = superClass === null ? '' : emit(superClass, outer, node);
    return (
      `(function (${superName ?? ''}) {\n${constructorText}\n` +
      `return __lowerClass(${className}, ${superName ?? 'null'}, [${proto.join(', ')}], [${statics.join(', ')}]);\n` +
      `})(${superText})`
    );
  };

  const lowerConstructor = (className: string, fn: Node, superName: string | undefined): string => {
    const body = fn['body'] as Node;
    const params = (fn['params'] as Node[]).map((p) => emit(p, NEUTRAL, fn)).join(', ');
    if (superName === undefined) {
      const ctx: Context = {
        thisName: undefined,
        superHome: 'Object.prototype',
        superName: undefined,
        inDerivedConstructor: false,
      };
      return `function ${className}(${params}) ${emit(body, ctx, fn, body.start, body.end, true)}`;
    }
    const thisName = `__this${counter}`;
    const ctx: Context = { thisName, superHome: `${superName}.prototype`, superName, inDerivedConstructor: true };
    const inner = emit(body, ctx, fn, body.start + 1, body.end - 1, true);
    return `function ${className}(${params}) {\nvar ${thisName};\n${inner}\nreturn ${thisName};\n}`;
  };

  return LOWER_CLASSES_RUNTIME + emit(program, NEUTRAL);
}

/** The context for a node's children: functions end `this`, `super` and constructor rules; arrows keep them. */
function contextInside(node: Node, ctx: Context): Context {
  if (ctx === NEUTRAL) return ctx;
  switch (node.type) {
    case 'FunctionExpression':
    case 'FunctionDeclaration':
      return NEUTRAL;
    case 'ArrowFunctionExpression':
      return ctx.inDerivedConstructor ? { ...ctx, inDerivedConstructor: false } : ctx;
    default:
      return ctx;
  }
}

function unsupported(node: Node, what: string): Error {
  return unsupportedIn('lowerClasses', node, what);
}
