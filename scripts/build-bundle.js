#!/usr/bin/env node
// The CLI as one file, and a V8 code cache for it (`npm run build` runs this after tsc).
//
// Every container operation of an engine is a `tsrunc` process, so what a call costs before it
// does any work is paid four times per `docker run`. Resolving, reading and compiling some fifty
// modules one by one was most of it: esbuild puts them into dist/cli/tsrunc.bundle.js (the
// command modules stay lazy: each is initialised only when its command runs), and the code
// V8 compiled while running a few commands here is saved next to it, so a run deserialises
// instead of compiling. bin/tsrunc loads both (its loadBundle); without them it runs
// dist/cli/main.js, the unbundled build, with the same behaviour.
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
const outDir = path.join(repo, 'dist', 'cli');
const bundle = path.join(outDir, 'tsrunc.bundle.js');

esbuild.buildSync({
  entryPoints: [path.join(repo, 'src', 'cli', 'main.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // Whitespace and syntax only: names stay (error names, stacks, `constructor.name`).
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
  logLevel: 'warning',
  // yargs (with cliui, y18n...) is a quarter of the bundle and serves --help and errors only:
  // it stays out, loaded from tsc's dist/cli/yargs-cli.js when needed.
  external: ['./yargs-cli'],
});

// esbuild wraps every `import * as fs from 'node:fs'` in __toESM(), which copies each of the
// module's properties into a new object, in every module that imports it, at start-up. The code
// never reads `.default` of those, so the plain module does: the wrapper goes.
let code = fs.readFileSync(bundle, 'utf8');
code = code.replace(/(\b[\w$]+)=__toESM\(require\("(node:[\w/]+)"\)\)/g, (whole, name, mod) =>
  code.includes(`${name}.default`) ? whole : `${name}=require("${mod}")`,
);
// Node compiles a builtin outside its start-up snapshot when it is first required: child_process
// alone brings net, stream and dgram (~3 ms). Modules require them at their top, and `state`
// initialises modules (hooks, the console socket) whose functions it never calls. Those builtins
// are required on first use instead: a proxy that loads the module when a property is read.
const LAZY_BUILTINS = ['node:child_process', 'node:net', 'node:tty', 'node:readline', 'node:crypto'];
code = code.replace(/(\b[\w$]+)=require\("(node:[\w/]+)"\)/g, (whole, name, mod) =>
  LAZY_BUILTINS.includes(mod) ? `${name}=__tsruncLazyBuiltin("${mod}")` : whole,
);
code =
  'var __tsruncLazyBuiltin=(id)=>{let m;return new Proxy({},{get:(_,k)=>(m??=require(id))[k],' +
  'has:(_,k)=>k in(m??=require(id))})};' +
  code;
// The yargs part is a dynamic import() in the source (tsc makes it a lazy require()); left
// external, esbuild keeps the import(), which a vm.Script cannot run: a lazy require() too.
code = code.replace(
  /\bimport\("\.\/yargs-cli"\)/g,
  'Promise.resolve().then(()=>require(__dirname+"/yargs-cli.js"))',
);
if (code.includes('import("')) throw new Error('build-bundle: a dynamic import() is left in the bundle');
fs.writeFileSync(bundle, code);

const buildId = crypto.randomBytes(8).toString('hex');
fs.appendFileSync(bundle, `\n//# tsrunc-build-id=${buildId}\n`);
for (const name of fs.readdirSync(outDir)) {
  if (/^tsrunc\.bundle\.[0-9a-f]+\.([a-z-]+\.)?cache$/.test(name)) fs.rmSync(path.join(outDir, name));
}

// One cache per command: V8 deserialises a whole cache up front, so a cache holding every
// command's code (about 0.5 MiB) made `state` ~3 ms slower than one holding only its own. Each
// is made by a node that loads the bundle as bin/tsrunc does, runs the command (and its error
// paths) against a scratch root, then saves what V8 compiled. `none` serves --version, --help
// and anything without a known command.
//   <root>/warm is a stopped container (its init pid does not exist), for the commands' paths
// that find one; <root>/bundle holds a valid config.json without its rootfs (create validates
// it, then stops at root.path).
const WARMUPS = {
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

const warmScript = `
  const fs = require('fs');
  const [bin, root, command, lines] = process.argv.slice(1);
  const loaded = require(bin).loadBundle({ warmup: true });
  if (!loaded) throw new Error('the bundle did not load');
  const fill = (a) => a.replace('@bundle', root + '/bundle').replace('@root', root);
  (async () => {
    for (const line of JSON.parse(lines)) {
      const args = line[0] === '--version' ? line : ['--root', root, '--log', root + '/log', '--log-format', 'json', ...line];
      await loaded.exports.runCli(args.map(fill));
    }
    loaded.saveCache(command);
  })().catch((error) => { console.error(error); process.exit(1); });
`;

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-build-'));
const bin = path.join(repo, 'bin', 'tsrunc');
try {
  const bundleDir = path.join(scratch, 'bundle');
  fs.mkdirSync(bundleDir);
  execFileSync(process.execPath, [bin, 'spec', '--bundle', bundleDir], {
    env: { ...process.env, TSRUNC_UNBUNDLED: '1' },
  });
  const configFile = path.join(bundleDir, 'config.json');
  const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
  config.process.terminal = false;
  fs.writeFileSync(configFile, JSON.stringify(config));
  fs.writeFileSync(path.join(scratch, 'process.json'), JSON.stringify(config.process));
  for (const [command, lines] of Object.entries(WARMUPS)) {
    writeStoppedContainer(scratch, 'warm', bundleDir, config);
    // The commands fail or find a stopped container: their messages are not news, a failure
    // of the script is.
    try {
      execFileSync(process.execPath, ['-e', warmScript, bin, scratch, command, JSON.stringify(lines)], {
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

/** A container record as the state store writes it, of a container whose init is gone. */
function writeStoppedContainer(root, id, bundleDir, config) {
  const dir = path.join(root, id);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { mode: 0o700 });
  const record = {
    ociVersion: config.ociVersion,
    id,
    // No such process: pids stop below /proc/sys/kernel/pid_max's limit, 2^22.
    initPid: 4194304,
    initStartTime: '1',
    bundle: bundleDir,
    rootfs: path.join(bundleDir, 'rootfs'),
    created: '2026-01-01T00:00:00.000000000Z',
    owner: 'root',
    phase: 'created',
    config,
  };
  fs.writeFileSync(path.join(dir, 'state.json'), JSON.stringify(record), { mode: 0o600 });
}

const caches = fs.readdirSync(outDir).filter((name) => name.startsWith(`tsrunc.bundle.${buildId}.`));
if (caches.length !== Object.keys(WARMUPS).length) throw new Error('build-bundle: a code cache is missing');
const kib = (file) => Math.round(fs.statSync(path.join(outDir, file)).size / 1024);
const total = caches.reduce((sum, name) => sum + kib(name), 0);
console.log(
  `build-bundle: wrote dist/cli/tsrunc.bundle.js (${kib('tsrunc.bundle.js')} KiB) and ${caches.length} code caches (${total} KiB)`,
);
