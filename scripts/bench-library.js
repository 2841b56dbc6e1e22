#!/usr/bin/env node
// The library in one process: N containers at once through one Runtime (create, start, exec,
// kill, wait, delete), with the event loop's delay measured meanwhile (p50/p99/max), next to the
// same N lifecycles done with the runc CLI (runc create/start/exec/kill/delete processes, N at
// once). Prints the wall times and their ratio. Timings never decide a test.
//
//   node scripts/bench-library.js <bundle-dir> [N]      (bash scripts/bench.sh runs it)
'use strict';
const { execFile, spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { monitorEventLoopDelay } = require('node:perf_hooks');
const { promisify } = require('node:util');

const { Runtime } = require('../dist/index.js');

const run = promisify(execFile);
const [bundle, countText] = process.argv.slice(2);
const count = Number(countText ?? 50);
if (!bundle) throw new Error('usage: bench-library.js <bundle-dir> [N]');

async function libraryLifecycle(runtime, id) {
  await runtime.create({ id, bundle });
  await runtime.start(id);
  const ps = await runtime.exec(id, { args: ['true'] });
  await ps.exit.wait();
  await runtime.kill(id, 'KILL');
  await runtime.wait(id);
  await runtime.delete(id);
}

/** A runc command whose stdio goes nowhere (a created init holds what it is given: waiting for
 *  a pipe's end would wait for the container). */
function runc(root, ...args) {
  return new Promise((resolve, reject) => {
    const child = spawn('runc', ['--root', root, ...args], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`runc ${args[0]}: exit ${code}`))));
  });
}

async function runcLifecycle(root, id) {
  await runc(root, 'create', '--bundle', bundle, id);
  await runc(root, 'start', id);
  await runc(root, 'exec', id, 'true');
  await runc(root, 'kill', id, 'KILL');
  for (;;) {
    const { stdout } = await run('runc', ['--root', root, 'state', id]);
    if (JSON.parse(stdout).status === 'stopped') break;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await runc(root, 'delete', id);
}

async function main() {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-bench-lib-'));
  try {
    const runtime = new Runtime({ root: path.join(work, 'tsrunc') });
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    let t = process.hrtime.bigint();
    await Promise.all(Array.from({ length: count }, (_, i) => libraryLifecycle(runtime, `lib-${i}`)));
    const libraryMs = Number(process.hrtime.bigint() - t) / 1e6;
    delay.disable();
    runtime.close();
    t = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: count }, (_, i) => runcLifecycle(path.join(work, 'runc'), `runc-${i}`)),
    );
    const runcMs = Number(process.hrtime.bigint() - t) / 1e6;
    const ms = (ns) => (ns / 1e6).toFixed(1);
    console.log(`${count} lifecycles at once (create, start, exec, kill, wait, delete):`);
    console.log(`  tsrunc library, one process: ${libraryMs.toFixed(0)} ms`);
    console.log(`  runc CLI, a process per step: ${runcMs.toFixed(0)} ms`);
    console.log(`  tsrunc/runc: ${(libraryMs / runcMs).toFixed(2)}x`);
    console.log(
      `  event loop delay meanwhile: p50 ${ms(delay.percentile(50))} ms, p99 ${ms(delay.percentile(99))} ms, ` +
        `max ${ms(delay.max)} ms (a blocked loop would show seconds)`,
    );
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`bench-library: ${error.message}`);
  process.exit(1);
});
