// Runtime({ subreaper: true }): this process becomes a child subreaper (process-wide, which is
// why this file is on its own: vitest runs each file in a process of its own), and the orphans of
// a container without its own pid namespace are reaped through the container's cgroup.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { Runtime } from '../../src/runtime/runtime';
import { createLogger } from '../../src/util/log';
import { containerId, defaultTestConfig, removeTree, tempDir } from '../helpers/bundle';
import { testEnv } from '../helpers/env';
import { stateRoot } from '../helpers/tsrunc';

let work: string | null = null;
let runtime: Runtime | null = null;

afterEach(async () => {
  runtime?.close();
  runtime = null;
  if (work) await removeTree(work);
  work = null;
});

/** Children of this process, by state (Z for zombies). */
function ourChildren(): { pid: number; state: string; comm: string }[] {
  const found: { pid: number; state: string; comm: string }[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue;
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(ppid) === process.pid) found.push({ pid: Number(name), state, comm });
  }
  return found;
}

async function waitFor(what: string, condition: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
  if (!condition()) throw new Error(`timed out waiting for ${what}`);
}

describe('Runtime with subreaper', () => {
  it('reaps the orphans of a container without a pid namespace, never leaving a zombie', async () => {
    work = tempDir('subreaper');
    runtime = new Runtime({
      root: stateRoot(),
      subreaper: true,
      logger: createLogger({ file: path.join(work, 'log'), format: 'text', debug: false }),
    });
    const bundle = fs.mkdtempSync(path.join(work, 'b-'));
    const config = await defaultTestConfig();
    config.root = { path: testEnv().rootfs, readonly: true };
    config.linux.namespaces = config.linux.namespaces.filter((ns: { type: string }) => ns.type !== 'pid');
    // The subshell exits at once: its `sleep`s lose their parent and come to us. One ends soon
    // (a zombie of ours unless reaped), one lives until the container is deleted.
    config.process.args = ['sh', '-c', '(sleep 0.3 & sleep 1000 &) ; exec sleep 1000'];
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
    const id = containerId('orphans');
    const { pid: initPid } = await runtime.create({ id, bundle });
    await runtime.start(id);
    await waitFor(
      'two orphans',
      () => ourChildren().filter((c) => c.comm === 'sleep' && c.pid !== initPid).length === 2,
    );
    // The short one exits: nothing of ours started it, but its zombie is ours; the SIGCHLD that
    // says so makes the runtime look for orphans in its containers' cgroups and reap them.
    await waitFor('the short orphan reaped', () => !ourChildren().some((c) => c.state === 'Z'));
    await runtime.kill(id, 'KILL', { all: true });
    expect((await runtime.wait(id)).signal).toBe(9);
    await runtime.delete(id);
    await waitFor('every orphan reaped', () => ourChildren().filter((c) => c.comm === 'sleep').length === 0);
    expect(ourChildren().filter((c) => c.state === 'Z')).toEqual([]);
    expect(runtime.context.reaper.size).toBe(0);
  });
});
