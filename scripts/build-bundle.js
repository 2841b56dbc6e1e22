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
});

const buildId = crypto.randomBytes(8).toString('hex');
fs.appendFileSync(bundle, `\n//# tsrunc-build-id=${buildId}\n`);
for (const name of fs.readdirSync(outDir)) {
  if (/^tsrunc\.bundle\.[0-9a-f]+\.cache$/.test(name)) fs.rmSync(path.join(outDir, name));
}

// The cache: a node that loads the bundle as bin/tsrunc does, runs commands that go through the
// code every call needs (the fast parser, the logger, the state store, `state` and `delete` of
// a container that does not exist, the --version answer), then saves what V8 compiled.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-build-'));
try {
  const warm = `
    const { loadBundle } = require(${JSON.stringify(path.join(repo, 'bin', 'tsrunc'))});
    const root = ${JSON.stringify(scratch)};
    const loaded = loadBundle({ warmup: true });
    if (!loaded) throw new Error('the bundle did not load');
    const log = root + '/log';
    (async () => {
      for (const args of [
        ['--root', root, '--log', log, '--log-format', 'json', 'state', 'none'],
        ['--root', root, '--log', log, 'delete', '--force', 'none'],
        ['--root', root, '--log', log, 'kill', 'none', 'KILL'],
        ['--root', root, '--log', log, 'start', 'none'],
        ['--root', root, '--log', log, 'events', '--stats', 'none'],
        ['--root', root, '--log', log, 'ps', '--format', 'json', 'none'],
        ['--root', root, '--log', log, 'create', '--bundle', root + '/no-bundle', '--pid-file', root + '/pid', 'none'],
        ['--root', root, '--log', log, 'exec', '--process', root + '/no-process.json', '--detach', 'none'],
        ['--root', root, 'list'],
        ['--version'],
      ]) {
        await loaded.exports.runCli(args);
      }
      loaded.saveCache();
    })().catch((error) => { console.error(error); process.exit(1); });
  `;
  // The commands fail (nothing exists): their messages are not news, a failure of the script is.
  try {
    execFileSync(process.execPath, ['-e', warm], { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    process.stderr.write(String(error.stderr ?? ''));
    throw error;
  }
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
const cache = fs.readdirSync(outDir).find((name) => name === `tsrunc.bundle.${buildId}.cache`);
if (!cache) throw new Error('build-bundle: no code cache was written');
const kib = (file) => Math.round(fs.statSync(path.join(outDir, file)).size / 1024);
console.log(`build-bundle: wrote dist/cli/tsrunc.bundle.js (${kib('tsrunc.bundle.js')} KiB), ${cache} (${kib(cache)} KiB)`);
