#!/usr/bin/env node
// The CLI and the containerd shim each as one file, with V8 code caches for them (`npm run
// build` runs this after tsc).
//
// Every container operation of an engine is a `tsrunc` process, so what a call costs before it
// does any work is paid four times per `docker run`. Resolving, reading and compiling some fifty
// modules one by one was most of it: esbuild puts them into dist/cli/tsrunc.bundle.js (the
// command modules stay lazy: each is initialised only when its command runs), and the code
// V8 compiled while running a few commands here is saved next to it, so a run deserialises
// instead of compiling. bin/tsrunc loads both (its loadBundle); without them it runs
// dist/cli/main.js, the unbundled build, with the same behaviour. The shim's `start` and `delete`
// are the same kind of per-container process: dist/shim/shim.bundle.js, one cache per action,
// loaded by bin/containerd-shim-tsrunc-v1.
//
// V8 accepts a code cache when the source has the same length (and node the same flags), so a
// stale cache could be taken for a new bundle of equal length: each build has an id, written at
// the end of the bundle and into the cache's file name, and the loader reads only the cache of
// the bundle's own id.
'use strict';
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const esbuild = require('esbuild');

const repo = path.join(__dirname, '..');
const bin = path.join(repo, 'bin', 'tsrunc');

/** esbuild's bundle of `entry` at `outfile`, made lighter to start (below), with a build id. */
function bundle(entry, outfile, external) {
  esbuild.buildSync({
    entryPoints: [path.join(repo, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    // Whitespace and syntax only: names stay (error names, stacks, `constructor.name`).
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    logLevel: 'warning',
    // protobufjs looks optional modules up with a direct eval of `require`: it still works.
    logOverride: { 'direct-eval': 'silent' },
    external,
  });

  // esbuild wraps every `import * as fs from 'node:fs'` in __toESM(), which copies each of the
  // module's properties into a new object, in every module that imports it, at start-up. The
  // code never reads `.default` of those, so the plain module does: the wrapper goes.
  let code = fs.readFileSync(outfile, 'utf8');
  code = code.replace(/(\b[\w$]+)=__toESM\(require\("(node:[\w/]+)"\)\)/g, (whole, name, mod) =>
    code.includes(`${name}.default`) ? whole : `${name}=require("${mod}")`,
  );
  // Node compiles a builtin outside its start-up snapshot when it is first required:
  // child_process alone brings net, stream and dgram (~3 ms). Modules require them at their top,
  // and `state` initialises modules (hooks, the console socket) whose functions it never calls.
  // Those builtins are required on first use instead: a proxy that loads the module when a
  // property is read.
  const LAZY_BUILTINS = ['node:child_process', 'node:net', 'node:tty', 'node:readline', 'node:crypto'];
  code = code.replace(/(\b[\w$]+)=require\("(node:[\w/]+)"\)/g, (whole, name, mod) =>
    LAZY_BUILTINS.includes(mod) ? `${name}=__tsruncLazyBuiltin("${mod}")` : whole,
  );
  code =
    'var __tsruncLazyBuiltin=(id)=>{let m;return new Proxy({},{get:(_,k)=>(m??=require(id))[k],' +
    'has:(_,k)=>k in(m??=require(id))})};' +
    code;
  // What is left external is a dynamic import() in the source (tsc makes it a lazy require());
  // esbuild keeps the import(), which a vm.Script cannot run: a lazy require() by path too.
  for (const name of external) {
    const spec = name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    code = code.replace(
      new RegExp(`\\bimport\\("${spec}"\\)`, 'g'),
      `Promise.resolve().then(()=>require(__dirname+"/${name.replace(/^\.\//, '')}.js"))`,
    );
  }
  if (code.includes('import("')) throw new Error(`build-bundle: a dynamic import() is left in ${outfile}`);

  const buildId = crypto.randomBytes(8).toString('hex');
  fs.writeFileSync(outfile, `${code}\n//# tsrunc-build-id=${buildId}\n`);
  const dir = path.dirname(outfile);
  const base = path.basename(outfile, '.js');
  for (const name of fs.readdirSync(dir)) {
    if (name.startsWith(`${base}.`) && name.endsWith('.cache')) fs.rmSync(path.join(dir, name));
  }
  return buildId;
}

/**
 * One code cache per key (a command, an action): V8 deserialises a whole cache up front, so a
 * cache holding every command's code (about 0.5 MiB) made `state` ~3 ms slower than one holding
 * only its own. Each is made by a node that loads the bundle as bin/ does, runs `warm` (a
 * function's source, called with the bundle's exports and the key), then saves what V8 compiled.
 * `nodeFlags`: the flags the bundle runs with for that key (V8 refuses a cache made under other
 * flags).
 */
function makeCaches(outfile, buildId, keys, warm, nodeFlags = () => []) {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-build-'));
  try {
    for (const key of keys) {
      const script = `
        const [bin, file, key, scratch] = process.argv.slice(1);
        const loaded = require(bin).loadBundle(file, { warmup: true });
        if (!loaded) throw new Error('the bundle did not load');
        (${warm})(loaded.exports, key, scratch)
          .then(() => loaded.saveCache(key))
          .catch((error) => { console.error(error); process.exit(1); });
      `;
      // The commands fail or find a stopped container: their messages are not news, a failure
      // of the script is.
      try {
        execFileSync(process.execPath, [...nodeFlags(key), '-e', script, bin, outfile, key, scratch], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
      } catch (error) {
        process.stderr.write(String(error.stderr ?? ''));
        throw error;
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  const dir = path.dirname(outfile);
  const caches = fs
    .readdirSync(dir)
    .filter((name) => name.startsWith(`${path.basename(outfile, '.js')}.${buildId}.`));
  if (caches.length !== keys.length) throw new Error(`build-bundle: a code cache of ${outfile} is missing`);
  const kib = (file) => Math.round(fs.statSync(path.join(dir, file)).size / 1024);
  const total = caches.reduce((sum, name) => sum + kib(name), 0);
  console.log(
    `build-bundle: wrote ${path.relative(repo, outfile)} (${kib(path.basename(outfile))} KiB) and ${caches.length} code caches (${total} KiB)`,
  );
}

// --- the CLI ------------------------------------------------------------------------------------
// Each command is run against a scratch root: <root>/warm is a stopped container (its init pid
// does not exist), for the commands' paths that find one; <root>/bundle holds a valid
// config.json without its rootfs (create validates it, then stops at root.path). `none` serves
// --version, --help and anything without a known command.
const CLI_WARMUPS = {
  none: [['--version']],
  state: [
    ['state', 'warm'],
    ['state', 'none'],
  ],
  delete: [
    ['delete', '--force', 'none'],
    ['delete', 'warm'],
  ],
  kill: [
    ['kill', 'warm', 'KILL'],
    ['kill', '--all', 'none', '9'],
  ],
  start: [['start', 'warm']],
  create: [['create', '--bundle', '@bundle', '--pid-file', '@root/pid', 'c1']],
  run: [['run', '--bundle', '@bundle', '--detach', 'c1']],
  exec: [['exec', '--process', '@root/process.json', '--detach', '--pid-file', '@root/p', 'warm']],
  events: [['events', '--stats', 'warm']],
  ps: [['ps', '--format', 'json', 'warm']],
  list: [['list'], ['list', '--format', 'json']],
  pause: [['pause', 'warm']],
  resume: [['resume', 'warm']],
  update: [['update', '--memory', '1g', 'warm']],
  spec: [['spec', '--bundle', '@root/spec']],
  features: [['features']],
};

function warmCliCommand(cli, command, root) {
  const fs = require('fs');
  const lines = WARMUPS[command];
  // A stopped container, and a bundle whose config.json is valid.
  const bundleDir = root + '/bundle';
  if (!fs.existsSync(bundleDir)) {
    fs.mkdirSync(bundleDir);
    const config = SPEC;
    fs.writeFileSync(bundleDir + '/config.json', JSON.stringify(config));
    fs.writeFileSync(root + '/process.json', JSON.stringify(config.process));
  }
  fs.rmSync(root + '/warm', { recursive: true, force: true });
  fs.mkdirSync(root + '/warm', { mode: 0o700 });
  fs.writeFileSync(
    root + '/warm/state.json',
    JSON.stringify({
      ociVersion: SPEC.ociVersion,
      id: 'warm',
      // No such process: pids stop below /proc/sys/kernel/pid_max's limit, 2^22.
      initPid: 4194304,
      initStartTime: '1',
      bundle: bundleDir,
      rootfs: bundleDir + '/rootfs',
      created: '2026-01-01T00:00:00.000000000Z',
      owner: 'root',
      phase: 'created',
      config: SPEC,
    }),
    { mode: 0o600 },
  );
  const fill = (a) => a.replace('@bundle', bundleDir).replace('@root', root);
  return lines.reduce(
    (done, line) =>
      done.then(() =>
        cli.runCli(
          (line[0] === '--version'
            ? line
            : ['--root', root, '--log', root + '/log', '--log-format', 'json', ...line]
          ).map(fill),
        ),
      ),
    Promise.resolve(),
  );
}

const cliBundle = path.join(repo, 'dist', 'cli', 'tsrunc.bundle.js');
// yargs (with cliui, y18n...) is a quarter of the CLI and serves --help and errors only: it
// stays out, loaded from tsc's dist/cli/yargs-cli.js when needed.
const cliBuild = bundle('src/cli/main.ts', cliBundle, ['./yargs-cli']);
// The config the warm-ups use: `tsrunc spec`'s (the unbundled build's), without a terminal.
const specDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-build-spec-'));
let spec;
try {
  execFileSync(process.execPath, [bin, 'spec', '--bundle', specDir], {
    env: { ...process.env, TSRUNC_UNBUNDLED: '1' },
  });
  spec = JSON.parse(fs.readFileSync(path.join(specDir, 'config.json'), 'utf8'));
  spec.process.terminal = false;
} finally {
  fs.rmSync(specDir, { recursive: true, force: true });
}
makeCaches(
  cliBundle,
  cliBuild,
  Object.keys(CLI_WARMUPS),
  `(cli, key, root) => { const WARMUPS = ${JSON.stringify(CLI_WARMUPS)}; const SPEC = ${JSON.stringify(spec)};
     return (${warmCliCommand})(cli, key, root); }`,
);

// --- the shim -----------------------------------------------------------------------------------
// Its warmUp() loads and exercises what each action needs without side effects (src/shim/main.ts).
// The server runs with the node flags `start` gives it, and so is its cache made.
const shimBundle = path.join(repo, 'dist', 'shim', 'shim.bundle.js');
const shimBuild = bundle('src/shim/main.ts', shimBundle, []);
const { SERVER_NODE_FLAGS } = require(path.join(repo, 'dist', 'shim', 'manager.js'));
makeCaches(shimBundle, shimBuild, ['start', 'delete', 'serve'], '(shim, key) => shim.warmUp(key)', (key) =>
  key === 'serve' ? SERVER_NODE_FLAGS : [],
);
