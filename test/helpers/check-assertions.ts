// Finds tests that cannot fail, by reading the test files with the TypeScript parser (no type
// checking, nothing run). Used by test/unit/assertion-checker.test.ts over every file of test/.
//
// Rules:
// - no-assertion: an `it`/`test` whose body, with the functions it calls (same file, or imported
//   from test/), has no `expect` at all.
// - conditional-assertion: it has some, but a path through the body (an `if` without an else, a
//   loop over a list that may be empty, an early `return`, a `catch`) ends without one, and the
//   test does not say `expect.assertions(n)` / `expect.hasAssertions()` first.
// - early-return: `if (...) return` in a test (or a callback of it) that leaves before
//   assertions that follow it, on a path that asserted nothing itself: the part after it is
//   silently not checked (say why with a skip, fail instead, or assert on that path too).
// - swallowed-assertion: an assertion inside a `try` whose `catch` can complete without
//   asserting or rethrowing: the assertion's failure is caught and the test passes.
// - conditional-helper: a function named expect... that may return without asserting (a test
//   that calls it believes it checked something).
// - expect-without-matcher: `expect(x)` (or `expect.soft`/`expect.poll`) with no matcher called.
// - unawaited-assertion: `.resolves`/`.rejects`/`expect.poll` matchers, which return promises,
//   neither awaited nor returned, or a statement that calls an async function that asserts and
//   drops its promise (the assertions would run after the test has passed, or never count).
// - skip-without-reason: `.skip`/`.skipIf`/`.runIf`/`.todo` or a `context.skip()` in a test whose
//   name does not say why (it must contain the word "skip", e.g. "... (skipped without swap
//   accounting)").
// - focused: `.only` (every other test of the file would silently not run).
//
// Functions are found by name through the enclosing scopes and the file's imports of modules
// under test/ (so helpers such as expectOneLineError need no list: they are read); a function
// that always asserts counts as an assertion where it is called, and so do the few helpers that
// check by throwing (ASSERTING_HELPERS). A
// callback passed to a call counts as run, except for calls that may run it zero times (array
// iteration over a list that is not a literal, event listeners, timers, `.catch`).
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';

export type Rule =
  | 'no-assertion'
  | 'conditional-assertion'
  | 'early-return'
  | 'swallowed-assertion'
  | 'conditional-helper'
  | 'expect-without-matcher'
  | 'unawaited-assertion'
  | 'skip-without-reason'
  | 'focused';

export interface Finding {
  file: string;
  line: number;
  rule: Rule;
  /** The test's name, or the code at fault. */
  what: string;
}

/**
 * Helpers that check without `expect`, by throwing a message that names what is wrong; a call
 * counts as an assertion. (waitFor is not one: a test still says what it expects afterwards.)
 */
const ASSERTING_HELPERS = new Map([
  ['assertNoLeaks', 'test/helpers/leaks.ts: throws naming every leaked mount, cgroup, process, fd'],
]);
/** `expect.<name>(...)` calls that assert (the others, `expect.any` & co, are matcher values). */
const ASSERTING_EXPECT_MEMBERS = new Set(['soft', 'poll', 'assertions', 'hasAssertions', 'unreachable']);
/** `expect.<name>(x)` calls that, like `expect(x)`, need a matcher called on their result. */
const NEEDS_MATCHER = new Set(['soft', 'poll']);
/** Methods that may call their callback zero times (on a list that is not a literal). */
const MAYBE_ZERO_CALLS = new Set([
  'forEach',
  'map',
  'flatMap',
  'filter',
  'some',
  'every',
  'find',
  'findIndex',
  'findLast',
  'findLastIndex',
  'reduce',
  'reduceRight',
  'sort',
]);
/** Methods and functions that run their callback later, or only on some outcome. */
const CALLBACK_LATER = new Set([
  'on',
  'once',
  'addListener',
  'catch',
  'setTimeout',
  'setInterval',
  'setImmediate',
  'queueMicrotask',
]);
const TEST_APIS = new Set(['it', 'test']);
const SUITE_APIS = new Set(['describe', 'suite']);
const SKIPPING_MODIFIERS = new Set(['skip', 'skipIf', 'runIf', 'todo']);
/** Modifiers that take their own arguments: `it.each(table)(name, fn)`. */
const PARAMETERIZED_MODIFIERS = new Set(['each', 'for', 'skipIf', 'runIf']);

/**
 * Paths out of a statement, from an entry where nothing has asserted yet. For each way out:
 * undefined = no path leaves that way; true = every such path asserted; false = some did not.
 */
interface Flow {
  fall?: boolean;
  ret?: boolean;
  brk?: boolean;
  cont?: boolean;
}

const FLOW_KINDS = ['fall', 'ret', 'brk', 'cont'] as const;

function both(a: boolean | undefined, b: boolean | undefined): boolean | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a && b;
}

function merge(...flows: Flow[]): Flow {
  const out: Flow = {};
  for (const f of flows) for (const k of FLOW_KINDS) out[k] = both(out[k], f[k]);
  return out;
}

/** The same paths, all asserted (something before them asserted on every path). */
function asserted(f: Flow): Flow {
  const out: Flow = {};
  for (const k of FLOW_KINDS) if (f[k] !== undefined) out[k] = true;
  return out;
}

type FunctionNode = ts.FunctionLikeDeclaration;

interface FunctionFacts {
  /** Some expect somewhere in it (or in what it calls). */
  contains: boolean;
  /** Every path through it that returns normally asserted. */
  always: boolean;
}

function isFunctionNode(node: ts.Node): node is ts.ArrowFunction | ts.FunctionExpression {
  return ts.isArrowFunction(node) || ts.isFunctionExpression(node);
}

function unwrap(node: ts.Expression): ts.Expression {
  let e = node;
  while (
    ts.isParenthesizedExpression(e) ||
    ts.isAsExpression(e) ||
    ts.isNonNullExpression(e) ||
    ts.isSatisfiesExpression(e) ||
    ts.isTypeAssertionExpression(e)
  ) {
    e = e.expression;
  }
  return e;
}

/** `expect(...)`, `expect.soft(...)`, `expect.assertions(...)`, ...: the calls that assert. */
function isAssertionCall(node: ts.Node): node is ts.CallExpression {
  if (!ts.isCallExpression(node)) return false;
  const callee = unwrap(node.expression);
  if (ts.isIdentifier(callee)) return callee.text === 'expect' || ASSERTING_HELPERS.has(callee.text);
  return (
    ts.isPropertyAccessExpression(callee) &&
    ts.isIdentifier(callee.expression) &&
    callee.expression.text === 'expect' &&
    ASSERTING_EXPECT_MEMBERS.has(callee.name.text)
  );
}

function calleeName(call: ts.CallExpression | ts.NewExpression): string | undefined {
  const callee = unwrap(call.expression);
  if (ts.isIdentifier(callee)) return callee.text;
  if (ts.isPropertyAccessExpression(callee)) return callee.name.text;
  return undefined;
}

/** A call that may run its callback arguments zero times, or after the test. */
function mayNotRunCallbacks(call: ts.CallExpression | ts.NewExpression): boolean {
  const name = calleeName(call);
  if (name === undefined) return false;
  if (CALLBACK_LATER.has(name)) return true;
  if (!MAYBE_ZERO_CALLS.has(name)) return false;
  const callee = unwrap(call.expression);
  const receiver = ts.isPropertyAccessExpression(callee) ? unwrap(callee.expression) : undefined;
  return !(receiver && ts.isArrayLiteralExpression(receiver) && receiver.elements.length > 0);
}

/** `let i = a; i < b` (or <=) with number literals a < b (<= b): the body runs at least once. */
function runsAtLeastOnce(loop: ts.ForStatement): boolean {
  const init = loop.initializer;
  const cond = loop.condition;
  if (!init || !cond || !ts.isVariableDeclarationList(init) || init.declarations.length !== 1) return false;
  const decl = init.declarations[0];
  if (!ts.isIdentifier(decl.name) || !decl.initializer || !ts.isNumericLiteral(decl.initializer))
    return false;
  if (!ts.isBinaryExpression(cond) || !ts.isIdentifier(cond.left) || cond.left.text !== decl.name.text) {
    return false;
  }
  if (!ts.isNumericLiteral(cond.right)) return false;
  const from = Number(decl.initializer.text);
  const to = Number(cond.right.text);
  if (cond.operatorToken.kind === ts.SyntaxKind.LessThanToken) return from < to;
  if (cond.operatorToken.kind === ts.SyntaxKind.LessThanEqualsToken) return from <= to;
  return false;
}

function isTrueLiteral(e: ts.Expression | undefined): boolean {
  return e === undefined || unwrap(e).kind === ts.SyntaxKind.TrueKeyword;
}

interface Module {
  file: string;
  source: ts.SourceFile;
  /** Local name -> [module file, exported name] for imports of modules under the test dir. */
  imports: Map<string, [string, string]>;
  /** Namespace imports (`import * as h from './x'`) of modules under the test dir. */
  namespaces: Map<string, string>;
}

type Report = (node: ts.Node, rule: Rule, what: string) => void;

export interface CheckerOptions {
  /** Only modules inside this dir are followed through imports (default: the dir of the file). */
  root?: string;
  /** Reads a module (default: fs); for the checker's own tests. */
  readFile?: (file: string) => string | undefined;
}

/** The checker over a set of files; modules are parsed once and shared. */
export class AssertionChecker {
  private readonly modules = new Map<string, Module | null>();
  private readonly facts = new Map<FunctionNode, FunctionFacts>();
  private readonly inProgress = new Set<FunctionNode>();
  /** The functions declared directly in a list of statements, by name. */
  private readonly declared = new Map<readonly ts.Statement[], Map<string, FunctionNode>>();
  /** containsAssertion of nodes, worked out while no function was in progress. */
  private readonly containing = new Map<ts.Node, boolean>();
  private readonly root: string | undefined;
  private readonly readFile: (file: string) => string | undefined;

  constructor(opts: CheckerOptions = {}) {
    this.root = opts.root && path.resolve(opts.root);
    this.readFile =
      opts.readFile ??
      ((file) => {
        try {
          return fs.readFileSync(file, 'utf8');
        } catch {
          return undefined;
        }
      });
  }

  /** The tests of one file (their names) and every finding in it (its tests, its expects, its tries). */
  check(file: string): { tests: string[]; findings: Finding[] } {
    const mod = this.module(path.resolve(file));
    if (!mod) throw new Error(`cannot read ${file}`);
    const tests: string[] = [];
    const findings: Finding[] = [];
    const report: Report = (node, rule, what) => {
      const { line } = mod.source.getLineAndCharacterOfPosition(node.getStart(mod.source));
      findings.push({ file: mod.file, line: line + 1, rule, what });
    };
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node)) {
        const test = this.checkRegistration(mod, node, report);
        if (test !== undefined) tests.push(test);
        this.checkExpectCall(node, report);
      }
      if (ts.isExpressionStatement(node)) this.checkFloatingCall(mod, node, report);
      const helper = helperNamedExpect(node);
      if (helper && !this.functionFacts(mod, helper.fn).always)
        report(node, 'conditional-helper', helper.name);
      if (ts.isTryStatement(node) && node.catchClause && this.swallows(mod, node)) {
        report(node, 'swallowed-assertion', 'try { ...expect... } catch { no rethrow }');
      }
      ts.forEachChild(node, visit);
    };
    visit(mod.source);
    return { tests, findings };
  }

  // ---- tests and suites ----

  private checkRegistration(mod: Module, call: ts.CallExpression, report: Report): string | undefined {
    const api = registration(call);
    if (!api) return undefined;
    const title = call.arguments[0] ? titleText(call.arguments[0], mod.source) : '(no name)';
    if (api.modifiers.includes('only')) report(call, 'focused', title);
    const skipping = api.modifiers.some((m) => SKIPPING_MODIFIERS.has(m));
    if (skipping && !/skip/i.test(title)) report(call, 'skip-without-reason', title);
    if (api.kind === 'suite') return undefined;
    const body = api.modifiers.includes('todo') ? undefined : this.testFunction(mod, call);
    if (!body) {
      report(call, 'no-assertion', title);
      return title;
    }
    if (!/skip/i.test(title) && callsContextSkip(body)) report(call, 'skip-without-reason', title);
    const facts = this.functionFacts(mod, body);
    if (!facts.contains) report(call, 'no-assertion', title);
    else if (!facts.always) report(call, 'conditional-assertion', title);
    for (const early of this.earlyReturns(mod, body)) report(early, 'early-return', title);
    return title;
  }

  /** `if (...) return` statements of the test's own code that skip assertions after them. */
  private earlyReturns(mod: Module, test: FunctionNode): ts.IfStatement[] {
    const found: ts.IfStatement[] = [];
    const visit = (n: ts.Node): void => {
      if (n !== test && ts.isFunctionLike(n)) {
        // Callbacks run once per element (a return there is a `continue`) are not the test's path.
        const call = n.parent;
        if (!(ts.isCallExpression(call) || ts.isNewExpression(call)) || mayNotRunCallbacks(call)) return;
      }
      if (ts.isIfStatement(n) && !n.elseStatement && this.flow(mod, n.thenStatement).ret === false) {
        const block = n.parent;
        if (ts.isBlock(block) || ts.isSourceFile(block)) {
          const after = block.statements.slice(block.statements.indexOf(n as ts.Statement) + 1);
          if (after.some((s) => this.containsAssertion(mod, s))) found.push(n);
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(test);
    return found;
  }

  /** The test's function: the last function argument, or a named function passed in. */
  private testFunction(mod: Module, call: ts.CallExpression): FunctionNode | undefined {
    for (const arg of [...call.arguments].reverse()) {
      const a = unwrap(arg);
      if (isFunctionNode(a)) return a;
      if (ts.isIdentifier(a)) {
        const found = this.resolve(mod, a, a.text);
        if (found) return found.fn;
      }
    }
    return undefined;
  }

  // ---- expect(...) without a matcher, unawaited async matchers ----

  private checkExpectCall(call: ts.CallExpression, report: Report) {
    const callee = unwrap(call.expression);
    const isExpect = ts.isIdentifier(callee) && callee.text === 'expect';
    const member =
      ts.isPropertyAccessExpression(callee) &&
      ts.isIdentifier(callee.expression) &&
      callee.expression.text === 'expect'
        ? callee.name.text
        : undefined;
    if (!isExpect && !(member && NEEDS_MATCHER.has(member))) return;
    // Walk up the chain: expect(x).not.resolves.toBe(y)
    let node: ts.Node = call;
    let asynchronous = member === 'poll';
    for (;;) {
      const parent: ts.Node = node.parent;
      if (ts.isParenthesizedExpression(parent) || ts.isNonNullExpression(parent)) {
        node = parent;
        continue;
      }
      if (ts.isPropertyAccessExpression(parent) && parent.expression === node) {
        if (parent.name.text === 'resolves' || parent.name.text === 'rejects') asynchronous = true;
        node = parent;
        continue;
      }
      break;
    }
    const matcherCall = node.parent;
    const text = shortText(call);
    if (node === call || !ts.isCallExpression(matcherCall) || matcherCall.expression !== node) {
      report(call, 'expect-without-matcher', text);
      return;
    }
    if (asynchronous && !isAwaitedOrReturned(matcherCall)) report(call, 'unawaited-assertion', text);
  }

  /** `helper();` where the helper is async and asserts: its assertions may run after the test. */
  private checkFloatingCall(mod: Module, stmt: ts.ExpressionStatement, report: Report): void {
    let e = unwrap(stmt.expression);
    if (ts.isVoidExpression(e)) e = unwrap(e.expression);
    if (!ts.isCallExpression(e)) return;
    const target = this.resolveCallee(mod, e);
    if (!target || !isAsync(target.fn)) return;
    if (this.functionFacts(target.mod, target.fn).contains) report(e, 'unawaited-assertion', shortText(e));
  }

  // ---- try/catch that swallows an assertion ----

  private swallows(mod: Module, stmt: ts.TryStatement): boolean {
    if (!this.containsAssertion(mod, stmt.tryBlock)) return false;
    const handled = this.flow(mod, stmt.catchClause!.block);
    return handled.fall === false || handled.ret === false;
  }

  // ---- functions ----

  private functionFacts(mod: Module, fn: FunctionNode): FunctionFacts {
    const known = this.facts.get(fn);
    if (known) return known;
    // A recursive call: assume nothing while the function itself is being worked out.
    if (this.inProgress.has(fn)) return { contains: false, always: false };
    this.inProgress.add(fn);
    try {
      const body = fn.body;
      let facts: FunctionFacts;
      if (!body) facts = { contains: false, always: false };
      else {
        const contains = this.containsAssertion(mod, body);
        let always = false;
        if (contains) {
          const f = ts.isBlock(body) ? this.flow(mod, body) : { fall: this.asserts(mod, body) };
          always = (f.fall ?? true) && (f.ret ?? true);
        }
        facts = { contains, always };
      }
      this.facts.set(fn, facts);
      return facts;
    } finally {
      this.inProgress.delete(fn);
    }
  }

  /** The function a call (or a reference) names, with the module it is in. */
  private resolveCallee(mod: Module, call: ts.CallExpression | ts.NewExpression) {
    const callee = unwrap(call.expression);
    if (ts.isIdentifier(callee)) return this.resolve(mod, callee, callee.text);
    if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression)) {
      const target = mod.namespaces.get(callee.expression.text);
      if (target) return this.exported(target, callee.name.text);
    }
    return undefined;
  }

  /** Looks `name` up from `at` outwards: block-level declarations, parameters, then imports. */
  private resolve(mod: Module, at: ts.Node, name: string): { mod: Module; fn: FunctionNode } | undefined {
    for (let node: ts.Node | undefined = at.parent; node; node = node.parent) {
      if (ts.isFunctionLike(node) && node.parameters.some((p) => bindsName(p.name, name))) return undefined;
      const statements =
        ts.isBlock(node) || ts.isSourceFile(node) || ts.isModuleBlock(node) || ts.isCaseClause(node)
          ? node.statements
          : ts.isDefaultClause(node)
            ? node.statements
            : undefined;
      if (!statements) continue;
      const fn = this.functionsIn(statements).get(name);
      if (fn) return { mod, fn };
    }
    const imported = mod.imports.get(name);
    return imported ? this.exported(imported[0], imported[1]) : undefined;
  }

  private exported(file: string, name: string): { mod: Module; fn: FunctionNode } | undefined {
    const target = this.module(file);
    if (!target) return undefined;
    const fn = this.functionsIn(target.source.statements).get(name);
    return fn ? { mod: target, fn } : undefined;
  }

  private functionsIn(statements: readonly ts.Statement[]): Map<string, FunctionNode> {
    let byName = this.declared.get(statements);
    if (!byName) {
      byName = declaredFunctions(statements);
      this.declared.set(statements, byName);
    }
    return byName;
  }

  private module(file: string): Module | null {
    const cached = this.modules.get(file);
    if (cached !== undefined) return cached;
    const text = this.readFile(file);
    if (text === undefined) {
      this.modules.set(file, null);
      return null;
    }
    const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    const mod: Module = { file, source, imports: new Map(), namespaces: new Map() };
    this.modules.set(file, mod);
    const root = this.root ?? path.dirname(file);
    for (const stmt of source.statements) {
      if (!ts.isImportDeclaration(stmt) || !ts.isStringLiteral(stmt.moduleSpecifier)) continue;
      const spec = stmt.moduleSpecifier.text;
      if (!spec.startsWith('.')) continue;
      const target = path.resolve(path.dirname(file), spec) + '.ts';
      if (!target.startsWith(root + path.sep)) continue;
      const bindings = stmt.importClause?.namedBindings;
      if (bindings && ts.isNamespaceImport(bindings)) mod.namespaces.set(bindings.name.text, target);
      if (bindings && ts.isNamedImports(bindings)) {
        for (const el of bindings.elements) {
          mod.imports.set(el.name.text, [target, (el.propertyName ?? el.name).text]);
        }
      }
    }
    return mod;
  }

  // ---- does it assert: anywhere, or on every path ----

  /** Some assertion anywhere below `node`, callbacks and called functions included. */
  private containsAssertion(mod: Module, node: ts.Node): boolean {
    const known = this.containing.get(node);
    if (known !== undefined) return known;
    const settled = this.inProgress.size === 0;
    let found = false;
    const visit = (n: ts.Node): void => {
      if (found) return;
      if (isAssertionCall(n)) {
        found = true;
        return;
      }
      if (ts.isCallExpression(n) || ts.isNewExpression(n)) {
        const target = this.resolveCallee(mod, n);
        if (target && this.functionFacts(target.mod, target.fn).contains) {
          found = true;
          return;
        }
      } else if (ts.isIdentifier(n) && isPassedAsValue(n)) {
        // `list.forEach(check)`: a reference to an asserting function.
        const target = this.resolve(mod, n, n.text);
        if (target && this.functionFacts(target.mod, target.fn).contains) {
          found = true;
          return;
        }
      }
      ts.forEachChild(n, visit);
    };
    visit(node);
    if (settled) this.containing.set(node, found);
    return found;
  }

  /** Evaluating `e` asserts on every path that completes (a throw is a failure, fine). */
  private asserts(mod: Module, e: ts.Node): boolean {
    if (isAssertionCall(e)) return true;
    if (isFunctionNode(e) || ts.isClassLike(e) || ts.isFunctionDeclaration(e)) return false;
    if (ts.isMethodDeclaration(e) || ts.isGetAccessor(e) || ts.isSetAccessor(e)) return false;
    if (ts.isBinaryExpression(e)) {
      const op = e.operatorToken.kind;
      if (
        op === ts.SyntaxKind.AmpersandAmpersandToken ||
        op === ts.SyntaxKind.BarBarToken ||
        op === ts.SyntaxKind.QuestionQuestionToken ||
        op === ts.SyntaxKind.AmpersandAmpersandEqualsToken ||
        op === ts.SyntaxKind.BarBarEqualsToken ||
        op === ts.SyntaxKind.QuestionQuestionEqualsToken
      ) {
        return this.asserts(mod, e.left);
      }
    }
    if (ts.isConditionalExpression(e)) {
      return (
        this.asserts(mod, e.condition) || (this.asserts(mod, e.whenTrue) && this.asserts(mod, e.whenFalse))
      );
    }
    if (ts.isCallExpression(e) || ts.isNewExpression(e)) {
      if (ts.isCallExpression(e) && e.questionDotToken) return this.asserts(mod, e.expression);
      if (this.asserts(mod, e.expression)) return true;
      const target = this.resolveCallee(mod, e);
      if (target && this.functionFacts(target.mod, target.fn).always) return true;
      const callbacksRun = !mayNotRunCallbacks(e);
      for (const arg of e.arguments ?? []) {
        const a = unwrap(arg);
        if (isFunctionNode(a)) {
          if (callbacksRun && this.functionFacts(mod, a).always) return true;
        } else if (this.asserts(mod, a)) return true;
      }
      return false;
    }
    let found = false;
    ts.forEachChild(e, (child) => {
      if (!found && this.asserts(mod, child)) found = true;
    });
    return found;
  }

  /** The paths out of a statement (see Flow). */
  private flow(mod: Module, s: ts.Statement): Flow {
    if (ts.isBlock(s)) return this.sequence(mod, s.statements);
    if (ts.isExpressionStatement(s)) return { fall: this.asserts(mod, s.expression) };
    if (ts.isVariableStatement(s)) {
      return {
        fall: s.declarationList.declarations.some((d) => !!d.initializer && this.asserts(mod, d.initializer)),
      };
    }
    if (ts.isReturnStatement(s)) return { ret: !!s.expression && this.asserts(mod, s.expression) };
    if (ts.isThrowStatement(s)) return {};
    if (ts.isBreakStatement(s)) return { brk: false };
    if (ts.isContinueStatement(s)) return { cont: false };
    if (ts.isIfStatement(s)) {
      const branches = merge(
        this.flow(mod, s.thenStatement),
        s.elseStatement ? this.flow(mod, s.elseStatement) : { fall: false },
      );
      return this.asserts(mod, s.expression) ? asserted(branches) : branches;
    }
    if (ts.isForOfStatement(s) || ts.isForInStatement(s)) {
      const list = unwrap(s.expression);
      const once = ts.isArrayLiteralExpression(list) && list.elements.length > 0 && ts.isForOfStatement(s);
      const loop = this.loop(this.flow(mod, s.statement), once, false);
      return this.asserts(mod, s.expression) ? asserted(loop) : loop;
    }
    if (ts.isForStatement(s)) {
      const endless = isTrueLiteral(s.condition);
      const loop = this.loop(this.flow(mod, s.statement), endless || runsAtLeastOnce(s), endless);
      const init = s.initializer && this.asserts(mod, s.initializer);
      return init ? asserted(loop) : loop;
    }
    if (ts.isWhileStatement(s)) {
      const endless = isTrueLiteral(s.expression);
      const loop = this.loop(this.flow(mod, s.statement), endless, endless);
      return this.asserts(mod, s.expression) ? asserted(loop) : loop;
    }
    if (ts.isDoStatement(s)) return this.loop(this.flow(mod, s.statement), true, isTrueLiteral(s.expression));
    if (ts.isTryStatement(s)) {
      const tried = this.flow(mod, s.tryBlock);
      const body = s.catchClause ? merge(tried, this.flow(mod, s.catchClause.block)) : tried;
      if (!s.finallyBlock) return body;
      const fin = this.flow(mod, s.finallyBlock);
      return fin.fall === true ? asserted(body) : body;
    }
    if (ts.isSwitchStatement(s)) return this.switchFlow(mod, s);
    if (ts.isLabeledStatement(s)) {
      const inner = this.flow(mod, s.statement);
      return { fall: both(inner.fall, inner.brk), ret: inner.ret, cont: inner.cont };
    }
    return { fall: false };
  }

  private sequence(mod: Module, statements: readonly ts.Statement[]): Flow {
    let out: Flow = {};
    let fall: boolean | undefined = false;
    for (const s of statements) {
      if (fall === undefined) break; // unreachable
      const f: Flow = fall ? asserted(this.flow(mod, s)) : this.flow(mod, s);
      out = merge(out, { ret: f.ret, brk: f.brk, cont: f.cont });
      fall = f.fall;
    }
    return { ...out, fall };
  }

  /** A loop's paths: `once` = the body surely runs, `endless` = only a break leaves it. */
  private loop(body: Flow, once: boolean, endless: boolean): Flow {
    const leave = endless
      ? { fall: body.brk }
      : merge({ fall: body.fall }, { fall: body.brk }, { fall: body.cont });
    const fall = once || endless ? leave.fall : both(leave.fall, false);
    return { fall, ret: body.ret };
  }

  private switchFlow(mod: Module, s: ts.SwitchStatement): Flow {
    const clauses = s.caseBlock.clauses;
    // From clause i: its statements, then (on fallthrough) the next clause's.
    let next: Flow = { fall: false };
    const starts: Flow[] = [];
    for (let i = clauses.length - 1; i >= 0; i--) {
      const own = this.sequence(mod, clauses[i].statements);
      const from: Flow =
        own.fall === undefined
          ? own
          : merge({ ret: own.ret, brk: own.brk, cont: own.cont }, own.fall ? asserted(next) : next);
      starts.unshift(from);
      next = from;
    }
    const all = merge(...starts.map((f) => ({ fall: both(f.fall, f.brk), ret: f.ret, cont: f.cont })));
    const hasDefault = clauses.some((c) => ts.isDefaultClause(c));
    const result = hasDefault ? all : merge(all, { fall: false });
    return this.asserts(mod, s.expression) ? asserted(result) : result;
  }
}

// ---- syntax helpers ----

/** `it(...)`, `it.skip(...)`, `it.each(t)(...)`, `describe.only(...)`: the registration calls. */
function registration(call: ts.CallExpression): { kind: 'test' | 'suite'; modifiers: string[] } | undefined {
  const modifiers: string[] = [];
  let e: ts.Expression = call.expression;
  // The last link must not be a parameterized modifier itself (that is `it.each(t)`, not a test).
  if (ts.isPropertyAccessExpression(e) && PARAMETERIZED_MODIFIERS.has(e.name.text)) return undefined;
  for (;;) {
    e = unwrap(e);
    if (ts.isCallExpression(e)) e = e.expression;
    else if (ts.isPropertyAccessExpression(e)) {
      modifiers.unshift(e.name.text);
      e = e.expression;
    } else break;
  }
  if (!ts.isIdentifier(e)) return undefined;
  if (TEST_APIS.has(e.text)) return { kind: 'test', modifiers };
  if (SUITE_APIS.has(e.text)) return { kind: 'suite', modifiers };
  return undefined;
}

/** A `context.skip()` / `skip()` (destructured from the context) in a test. */
function callsContextSkip(fn: FunctionNode): boolean {
  const param = fn.parameters[0];
  if (!param) return false;
  let found = false;
  const visit = (n: ts.Node): void => {
    if (found) return;
    if (ts.isCallExpression(n)) {
      const callee = unwrap(n.expression);
      if (ts.isIdentifier(callee) && callee.text === 'skip' && bindsName(param.name, 'skip')) found = true;
      if (
        ts.isPropertyAccessExpression(callee) &&
        callee.name.text === 'skip' &&
        ts.isIdentifier(callee.expression) &&
        bindsName(param.name, callee.expression.text)
      ) {
        found = true;
      }
    }
    ts.forEachChild(n, visit);
  };
  if (fn.body) visit(fn.body);
  return found;
}

function isAsync(fn: FunctionNode): boolean {
  return (ts.getCombinedModifierFlags(fn) & ts.ModifierFlags.Async) !== 0;
}

function bindsName(binding: ts.BindingName, name: string): boolean {
  if (ts.isIdentifier(binding)) return binding.text === name;
  return binding.elements.some((el) => !ts.isOmittedExpression(el) && bindsName(el.name, name));
}

/** A function named `expect...` (`function expectX() {}`, `const expectX = () => {}`). */
function helperNamedExpect(node: ts.Node): { name: string; fn: FunctionNode } | undefined {
  const isExpectName = (name: string) => /^expect[A-Z_]/.test(name);
  if (ts.isFunctionDeclaration(node) && node.name && node.body && isExpectName(node.name.text)) {
    return { name: node.name.text, fn: node };
  }
  if (ts.isVariableDeclaration(node) && ts.isIdentifier(node.name) && isExpectName(node.name.text)) {
    const init = node.initializer && unwrap(node.initializer);
    if (init && isFunctionNode(init)) return { name: node.name.text, fn: init };
  }
  return undefined;
}

/** The functions declared directly in these statements (the first of a name wins). */
function declaredFunctions(statements: readonly ts.Statement[]): Map<string, FunctionNode> {
  const byName = new Map<string, FunctionNode>();
  const add = (name: string, fn: FunctionNode) => {
    if (!byName.has(name)) byName.set(name, fn);
  };
  for (const s of statements) {
    if (ts.isFunctionDeclaration(s) && s.name && s.body) add(s.name.text, s);
    if (ts.isVariableStatement(s)) {
      for (const d of s.declarationList.declarations) {
        const init = d.initializer && unwrap(d.initializer);
        if (ts.isIdentifier(d.name) && init && isFunctionNode(init)) add(d.name.text, init);
      }
    }
  }
  return byName;
}

/** An identifier used as a value argument (not called, not a property name, not declared). */
function isPassedAsValue(id: ts.Identifier): boolean {
  const parent = id.parent;
  return (ts.isCallExpression(parent) || ts.isNewExpression(parent)) && parent.expression !== id;
}

function isAwaitedOrReturned(call: ts.Node): boolean {
  let node = call;
  while (ts.isParenthesizedExpression(node.parent)) node = node.parent;
  const parent = node.parent;
  return (
    ts.isAwaitExpression(parent) ||
    ts.isReturnStatement(parent) ||
    (ts.isArrowFunction(parent) && parent.body === node)
  );
}

function titleText(arg: ts.Expression, source: ts.SourceFile): string {
  if (ts.isStringLiteralLike(arg)) return arg.text;
  return arg.getText(source);
}

function shortText(node: ts.Node): string {
  const text = node.getText().replace(/\s+/g, ' ');
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Every *.test.ts below `dir`, sorted. */
export function testFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join(dir, f))
    .sort();
}
