// The shim's Stats payload for a real container, made the way the shim makes it: the rootfs an
// overlay that mountRootfs puts on <bundle>/rootfs (the shared busybox rootfs as its lower
// layer), the container run by the library's Runtime in this process, its stats turned into
// the cgroups Metrics for this host's layout and decoded again.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { detectCgroups } from '../../src/cgroups/layout';
import { native } from '../../src/native';
import { readMountInfo } from '../../src/plan/host';
import { Runtime } from '../../src/runtime/runtime';
import { metricsAny } from '../../src/shim/metrics';
import { metricsV1, metricsV2 } from '../../src/shim/proto';
import { mountRootfs, unmountRootfs } from '../../src/shim/rootfs';
import { createLogger } from '../../src/util/log';
import { containerId, defaultTestConfig, removeTree, tempDir } from '../helpers/bundle';
import { testEnv } from '../helpers/env';
import { hostMountsUnder, hostUnmountAll } from '../helpers/mountinfo';
import { stateRoot } from '../helpers/tsrunc';

const MEMORY_LIMIT = 64 * 1024 * 1024;
const PIDS_LIMIT = 32;

let work: string | null = null;
let runtime: Runtime | null = null;
let created: string | null = null;

afterEach(async () => {
  if (runtime && created) await runtime.delete(created, { force: true }).catch(() => undefined);
  runtime?.close();
  runtime = null;
  created = null;
  if (work) {
    hostUnmountAll(work);
    await removeTree(work);
  }
  work = null;
});

/** A 64-bit field as the decoders give it (a Long, or a number when zero from the prototype). */
function num(value: unknown): number {
  return Number(String(value));
}

describe('Stats payload of a running container', () => {
  it('has its memory usage, the memory limit of its config and its pids, on an overlay rootfs from mountRootfs', async () => {
    work = tempDir('shim-metrics');
    const bundle = path.join(work, 'bundle');
    const snapshot = path.join(work, 'snapshot');
    fs.mkdirSync(path.join(snapshot, 'fs'), { recursive: true });
    fs.mkdirSync(path.join(snapshot, 'work'));
    fs.mkdirSync(bundle);
    mountRootfs(
      native(),
      [
        {
          type: 'overlay',
          source: 'overlay',
          options: [
            'index=off',
            `workdir=${path.join(snapshot, 'work')}`,
            `upperdir=${path.join(snapshot, 'fs')}`,
            `lowerdir=${testEnv().rootfs}`,
          ],
        },
      ],
      path.join(bundle, 'rootfs'),
    );
    const config = await defaultTestConfig();
    config.root = { path: 'rootfs', readonly: false };
    config.process.args = ['sh', '-c', 'exec sleep 1000', `tsrunc-test-${testEnv().runId}`];
    config.linux.resources = {
      ...config.linux.resources,
      memory: { limit: MEMORY_LIMIT },
      pids: { limit: PIDS_LIMIT },
    };
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));

    runtime = new Runtime({
      root: stateRoot(),
      logger: createLogger({ file: path.join(work, 'runtime.log'), format: 'json', debug: false }),
    });
    const id = containerId('metrics');
    await runtime.create({ id, bundle });
    created = id;
    await runtime.start(id);
    // The container's writes go to the overlay's upper dir.
    const write = await runtime.exec(id, { args: ['sh', '-c', 'echo hi > /written'] });
    expect((await write.exit.wait()).exitCode).toBe(0);
    expect(fs.readFileSync(path.join(snapshot, 'fs', 'written'), 'utf8')).toBe('hi\n');

    const unified = detectCgroups(readMountInfo()).layout === 'v2';
    const any = metricsAny(await runtime.stats(id), unified);
    if (unified) {
      expect(any.typeUrl).toBe('io.containerd.cgroups.v2.Metrics');
      const metrics = metricsV2.Metrics.decode(any.value);
      expect(num(metrics.memory?.usage)).toBeGreaterThan(0);
      expect(num(metrics.memory?.usageLimit)).toBe(MEMORY_LIMIT);
      expect(num(metrics.pids?.current)).toBeGreaterThanOrEqual(1);
      expect(num(metrics.pids?.limit)).toBe(PIDS_LIMIT);
      expect(num(metrics.cpu?.usageUsec)).toBeGreaterThan(0);
    } else {
      expect(any.typeUrl).toBe('io.containerd.cgroups.v1.Metrics');
      const metrics = metricsV1.Metrics.decode(any.value);
      expect(num(metrics.memory?.usage?.usage)).toBeGreaterThan(0);
      expect(num(metrics.memory?.usage?.limit)).toBe(MEMORY_LIMIT);
      expect(num(metrics.memory?.hierarchicalMemoryLimit)).toBe(MEMORY_LIMIT);
      expect(num(metrics.pids?.current)).toBeGreaterThanOrEqual(1);
      expect(num(metrics.pids?.limit)).toBe(PIDS_LIMIT);
      expect(num(metrics.cpu?.usage?.total)).toBeGreaterThan(0);
    }

    await runtime.kill(id, 'KILL');
    await runtime.wait(id);
    await runtime.delete(id);
    created = null;
    expect(unmountRootfs(native(), path.join(bundle, 'rootfs'))).toBe(1);
    expect(hostMountsUnder(work)).toEqual([]);
  });
});
