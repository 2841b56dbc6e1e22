// Kubernetes pods through containerd's CRI plugin and the tsrunc shim. The tests play the
// kubelet: a CRI v1 client (test/helpers/cri.ts) drives a private containerd whose runtime
// handler `tsrunc` is io.containerd.tsrunc.v1; pods have a network namespace with loopback only.
// TSRUNC_SHIM_RUNTIME=io.containerd.runc.v2 gives the handler containerd's runc shim instead:
// the same tests pass against it, which is how they were checked.
// What a kubelet does around CRI and these tests do too: it makes the pod's cgroup parent and
// log directory, and removes them once the pod is gone.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as path from 'node:path';
import WebSocket from 'ws';

import { tempDir } from '../helpers/bundle';
import {
  BUSYBOX_IMAGE,
  type CriNode,
  HANDLER,
  type Message,
  podCgroupParent,
  startCriNode,
} from '../helpers/cri';
import { testEnv } from '../helpers/env';
import { guardHostNetwork } from '../helpers/host-network';
import { procAlive, readLinkOrNull, sleep, waitFor } from '../helpers/lifecycle-helpers';
import { parseMountInfo } from '../helpers/mountinfo';
import { parentOf, shimPathDirs, shimProcesses, shimRuntime } from '../helpers/shim';

const RUNTIME = shimRuntime();
/** Bounds a wait for something containerd or the shim does in the background (not a timing
 *  assertion: only how long a hang takes to be reported). */
const SETTLE_MS = 30_000;
const CGROUP_ROOT = '/sys/fs/cgroup';

guardHostNetwork();

let node: CriNode;
let binDirs: string[] = [];
let shimRoot: string;
let seq = 0;
/** The pods of the running test: afterEach stops and removes them and checks what is left. */
let pods: Pod[] = [];

interface Pod {
  id: string;
  uid: string;
  config: Message;
  logDir: string;
}

beforeAll(async () => {
  binDirs = shimPathDirs(RUNTIME);
  // The shim's state root (the handler's ConfigPath file names it); containers of the k8s.io
  // namespace live in <root>/k8s.io, made here so that only containers' dirs are new in it.
  shimRoot = path.join(testEnv().stateBase, 'cri-shim-root');
  fs.mkdirSync(path.join(shimRoot, 'k8s.io'), { recursive: true });
  node = await startCriNode({ pathDirs: binDirs, shimRoot, runtimeType: RUNTIME.name });
});

afterEach(async () => {
  const testPods = pods;
  pods = [];
  for (const pod of testPods) await removePod(pod);
  await checkNodeLeftovers(testPods);
});

afterAll(async () => {
  await node?.stop();
  for (const dir of binDirs) fs.rmSync(dir, { recursive: true, force: true });
  if (shimRoot) fs.rmSync(shimRoot, { recursive: true, force: true });
});

const cri = (method: string, request: Message, timeoutMs?: number): Promise<Message> =>
  node.runtime.call(method, request, timeoutMs);

/** RunPodSandbox with the tsrunc handler: the pod's own network (loopback), IPC and UTS
 *  namespaces, and pid namespaces per container, as a kubelet asks by default. */
async function runPod(name = 'pod'): Promise<Pod> {
  const uid = `${testEnv().runId}-${++seq}`;
  const logDir = tempDir('cri-logs');
  const config = {
    metadata: { name: `${name}-${seq}`, uid, namespace: 'tsrunc-test', attempt: 0 },
    hostname: `${name}-${seq}`,
    log_directory: logDir,
    linux: {
      cgroup_parent: podCgroupParent(uid),
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  const pod: Pod = { id: '', uid, config, logDir };
  pods.push(pod);
  const res = await cri('RunPodSandbox', { config, runtime_handler: HANDLER });
  pod.id = res.pod_sandbox_id;
  return pod;
}

interface ContainerSpec {
  command: string[];
  mounts?: { container_path: string; host_path: string; readonly?: boolean }[];
  memoryLimit?: number;
}

async function createContainer(pod: Pod, name: string, spec: ContainerSpec): Promise<string> {
  const config = {
    metadata: { name, attempt: 0 },
    image: { image: BUSYBOX_IMAGE },
    command: spec.command,
    log_path: `${name}.log`,
    mounts: spec.mounts ?? [],
    linux: {
      resources: spec.memoryLimit ? { memory_limit_in_bytes: spec.memoryLimit } : {},
      // As a kubelet sends it for a pod without shareProcessNamespace.
      security_context: { namespace_options: { network: 'POD', pid: 'CONTAINER', ipc: 'POD' } },
    },
  };
  const res = await cri('CreateContainer', { pod_sandbox_id: pod.id, config, sandbox_config: pod.config });
  return res.container_id;
}

async function startContainer(pod: Pod, name: string, spec: ContainerSpec): Promise<string> {
  const id = await createContainer(pod, name, spec);
  await cri('StartContainer', { container_id: id });
  return id;
}

/** A container that runs until stopped. */
const idle = (extra: Partial<ContainerSpec> = {}): ContainerSpec => ({
  command: ['sh', '-c', 'echo started; exec sleep 100000'],
  ...extra,
});

/** containerd's verbose info about a sandbox or container (pid, runtime, config). */
async function sandboxInfo(pod: Pod): Promise<Message> {
  const res = await cri('PodSandboxStatus', { pod_sandbox_id: pod.id, verbose: true });
  return { status: res.status, ...JSON.parse(res.info.info) };
}

async function containerStatus(id: string): Promise<Message> {
  return (await cri('ContainerStatus', { container_id: id })).status;
}

async function containerPid(id: string): Promise<number> {
  const res = await cri('ContainerStatus', { container_id: id, verbose: true });
  return JSON.parse(res.info.info).pid as number;
}

async function execSync(
  id: string,
  cmd: string[],
  timeout = 0,
): Promise<{ out: string; err: string; code: number }> {
  const res = await cri('ExecSync', { container_id: id, cmd, timeout });
  return { out: res.stdout.toString(), err: res.stderr.toString(), code: res.exit_code };
}

async function waitForExit(id: string): Promise<Message> {
  let status: Message = null;
  const deadline = Date.now() + SETTLE_MS;
  while (Date.now() < deadline) {
    status = await containerStatus(id);
    if (status.state === 'CONTAINER_EXITED') return status;
    await sleep(100);
  }
  throw new Error(`container ${id} did not exit: ${JSON.stringify(status)}`);
}

/** The dir of cgroup `rel` in the v1 hierarchy of `controller`. */
function cgroupDir(controller: string, rel: string): string {
  return path.join(CGROUP_ROOT, controller, rel);
}

/** The container's cgroup: CRI's cgroupfs path is <pod cgroup parent>/<container id>. */
function containerCgroup(pod: Pod, id: string): string {
  return `${podCgroupParent(pod.uid)}/${id}`;
}

/** StopPodSandbox + RemovePodSandbox (containers go with it), then what a kubelet removes: the
 *  pod's cgroup parent and its log directory. */
async function removePod(pod: Pod): Promise<void> {
  if (pod.id) {
    await cri('StopPodSandbox', { pod_sandbox_id: pod.id });
    await cri('RemovePodSandbox', { pod_sandbox_id: pod.id });
  }
  for (const controller of fs.readdirSync(CGROUP_ROOT)) {
    const dir = cgroupDir(controller, podCgroupParent(pod.uid));
    if (!fs.existsSync(dir)) continue;
    // Anything still inside is the runtime's leftover: the leak check reports it.
    try {
      fs.rmdirSync(dir);
    } catch {
      /* reported below */
    }
  }
  fs.rmSync(pod.logDir, { recursive: true, force: true });
}

/**
 * After the pods are removed: no shim of our containerd runs, no container process, no mount
 * of containerd's dirs (rootfs, shm, netns), no cgroup of a pod, no runtime state dir, no bundle,
 * no network namespace file. Throws with the list (the leak guard then cleans up mounts,
 * cgroups and processes).
 */
async function checkNodeLeftovers(testPods: Pod[]): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (shimProcesses(node.containerd.socket).length && Date.now() < deadline) await sleep(100);
  const problems: string[] = [];
  for (const p of shimProcesses(node.containerd.socket)) {
    problems.push(`shim process ${p.pid}: ${p.argv.join(' ')}`);
    process.kill(p.pid, 'SIGKILL');
  }
  for (const m of parseMountInfo(fs.readFileSync('/proc/self/mountinfo', 'utf8'))) {
    if (m.mountPoint.startsWith(node.containerd.dir + '/')) problems.push(`mount ${m.mountPoint}`);
  }
  for (const pod of testPods) {
    for (const controller of fs.readdirSync(CGROUP_ROOT)) {
      const dir = cgroupDir(controller, podCgroupParent(pod.uid));
      if (fs.existsSync(dir)) problems.push(`cgroup ${dir}`);
    }
  }
  const listed = (dir: string) => (fs.existsSync(dir) ? fs.readdirSync(dir) : []);
  for (const name of listed(path.join(shimRoot, 'k8s.io'))) problems.push(`runtime state ${name}`);
  const bundles = path.join(
    node.containerd.dir,
    'containerd-state',
    'io.containerd.runtime.v2.task',
    'k8s.io',
  );
  for (const name of listed(bundles)) problems.push(`bundle ${name}`);
  for (const name of listed(node.netnsDir)) problems.push(`network namespace ${name}`);
  expect(problems).toEqual([]);
}

describe('a pod with the tsrunc runtime handler', () => {
  it('runs its sandbox and two containers under one tsrunc shim, sharing network, IPC and UTS namespaces and an emptyDir', async () => {
    const pod = await runPod('two');
    const emptyDir = tempDir('cri-emptydir');
    try {
      const volume = [{ container_path: '/data', host_path: emptyDir }];
      const c1 = await startContainer(pod, 'one', idle({ mounts: volume }));
      const c2 = await startContainer(pod, 'two', idle({ mounts: volume }));

      const sandbox = await sandboxInfo(pod);
      expect(sandbox.status.state).toBe('SANDBOX_READY');
      expect(sandbox.runtimeHandler).toBe(HANDLER);
      expect(sandbox.runtimeType).toBe(RUNTIME.name);
      for (const id of [c1, c2]) expect((await containerStatus(id)).state).toBe('CONTAINER_RUNNING');

      // One shim: the sandbox's and both containers' inits are children of the same process,
      // tsrunc's shim (the only shim of this containerd).
      const pids = [sandbox.pid as number, await containerPid(c1), await containerPid(c2)];
      const shims = shimProcesses(node.containerd.socket).filter((p) => p.action === null);
      expect(shims).toHaveLength(1);
      expect(path.basename(shims[0].argv.find((a) => a.includes('containerd-shim-'))!)).toBe(RUNTIME.binary);
      expect(pids.map((pid) => parentOf(pid))).toEqual([shims[0].pid, shims[0].pid, shims[0].pid]);

      // Seen from inside: the sandbox's network, IPC and UTS namespaces; pid namespaces apart.
      for (const ns of ['net', 'ipc', 'uts']) {
        const sandboxNs = readLinkOrNull(`/proc/${sandbox.pid}/ns/${ns}`);
        expect(sandboxNs).toMatch(/^\w+:\[\d+\]$/);
        for (const id of [c1, c2]) {
          expect((await execSync(id, ['readlink', `/proc/self/ns/${ns}`])).out.trim()).toBe(sandboxNs);
        }
      }
      const pidNamespaces = pids.map((pid) => readLinkOrNull(`/proc/${pid}/ns/pid`));
      expect(new Set(pidNamespaces).size).toBe(3);
      expect((await execSync(c2, ['hostname'])).out.trim()).toBe(pod.config.hostname);
      // The pod network is loopback alone.
      expect((await execSync(c1, ['ls', '/sys/class/net'])).out.split(/\s+/).filter(Boolean)).toEqual(['lo']);

      // The emptyDir: written by one, read by the other, and it is the host's dir.
      expect((await execSync(c1, ['sh', '-c', 'echo from-one > /data/note'])).code).toBe(0);
      expect((await execSync(c2, ['cat', '/data/note'])).out).toBe('from-one\n');
      expect(fs.readFileSync(path.join(emptyDir, 'note'), 'utf8')).toBe('from-one\n');

      // What the container printed reached the CRI log of the kubelet's log directory.
      const log = fs.readFileSync(path.join(pod.logDir, 'one.log'), 'utf8');
      expect(log).toMatch(/^\S+ stdout F started$/m);
    } finally {
      fs.rmSync(emptyDir, { recursive: true, force: true });
    }
  });
});

describe('ExecSync and Exec', () => {
  it('ExecSync returns stdout, stderr and the exit code', async () => {
    const pod = await runPod('exec');
    const id = await startContainer(pod, 'c', idle());
    const res = await execSync(id, ['sh', '-c', 'echo to-out; echo to-err >&2; exit 7']);
    expect(res).toEqual({ out: 'to-out\n', err: 'to-err\n', code: 7 });
    expect(await execSync(id, ['true'])).toEqual({ out: '', err: '', code: 0 });
  });

  it('ExecSync with a timeout fails and kills the process', async () => {
    const pod = await runPod('timeout');
    const id = await startContainer(pod, 'c', idle());
    const marker = String(100000 + Math.floor(Math.random() * 800000));
    await expect(execSync(id, ['sleep', marker], 1)).rejects.toThrow(/timeout 1s exceeded/);
    // The exec'd sleep is gone from the host, and the container still runs.
    await waitFor(
      'the timed-out exec to be killed',
      () => processesWithArgv(['sleep', marker]).length === 0,
      SETTLE_MS,
    );
    expect(processesWithArgv(['sleep', marker])).toEqual([]);
    expect((await containerStatus(id)).state).toBe('CONTAINER_RUNNING');
  });

  it("Exec's streaming URL (containerd's server on loopback) runs the command with its output and exit code", async () => {
    const pod = await runPod('stream');
    const id = await startContainer(pod, 'c', idle());
    const { url } = await cri('Exec', {
      container_id: id,
      cmd: ['sh', '-c', 'echo streamed-out; echo streamed-err >&2; exit 5'],
      stdout: true,
      stderr: true,
    });
    expect(new URL(url).hostname).toBe('127.0.0.1');
    const res = await streamExec(url);
    expect(res.stdout).toBe('streamed-out\n');
    expect(res.stderr).toBe('streamed-err\n');
    expect(res.status).toMatchObject({
      status: 'Failure',
      reason: 'NonZeroExitCode',
      details: { causes: [{ reason: 'ExitCode', message: '5' }] },
    });
  });
});

describe('stats and resources', () => {
  it('ContainerStats and ListContainerStats report cpu and memory as the host cgroup files count them', async () => {
    const pod = await runPod('stats');
    const busy = await startContainer(pod, 'busy', {
      command: [
        'sh',
        '-c',
        'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; echo done; exec sleep 100000',
      ],
    });
    const quiet = await startContainer(pod, 'quiet', idle());
    await waitFor('the busy loop', () => logHas(pod, 'busy', 'done'), SETTLE_MS);

    const cpuFile = path.join(cgroupDir('cpuacct', containerCgroup(pod, busy)), 'cpuacct.usage');
    const before = BigInt(fs.readFileSync(cpuFile, 'utf8').trim());
    const { stats } = await cri('ContainerStats', { container_id: busy });
    const after = BigInt(fs.readFileSync(cpuFile, 'utf8').trim());
    expect(stats.attributes.id).toBe(busy);
    const cpu = BigInt(stats.cpu.usage_core_nano_seconds.value);
    expect(cpu).toBeGreaterThan(0n);
    expect(cpu >= before && cpu <= after).toBe(true);
    const memFile = path.join(cgroupDir('memory', containerCgroup(pod, busy)), 'memory.usage_in_bytes');
    expect(Number(stats.memory.usage_bytes.value)).toBeGreaterThan(0);
    expect(Number(stats.memory.working_set_bytes.value)).toBeGreaterThan(0);
    expect(Number(stats.memory.working_set_bytes.value)).toBeLessThanOrEqual(
      Number(stats.memory.usage_bytes.value),
    );
    // Same order of magnitude as the host's file (memory moves between the two reads).
    const hostUsage = Number(fs.readFileSync(memFile, 'utf8').trim());
    expect(Number(stats.memory.usage_bytes.value)).toBeGreaterThan(hostUsage / 4);
    expect(Number(stats.memory.usage_bytes.value)).toBeLessThan(hostUsage * 4);

    const list = await cri('ListContainerStats', { filter: { pod_sandbox_id: pod.id } });
    const byId = new Map<string, Message>(list.stats.map((s: Message) => [s.attributes.id, s]));
    expect([...byId.keys()].sort()).toEqual([busy, quiet].sort());
    for (const s of byId.values()) {
      expect(BigInt(s.cpu.usage_core_nano_seconds.value)).toBeGreaterThan(0n);
      expect(Number(s.memory.usage_bytes.value)).toBeGreaterThan(0);
    }
    expect(BigInt(byId.get(busy).cpu.usage_core_nano_seconds.value)).toBeGreaterThan(
      BigInt(byId.get(quiet).cpu.usage_core_nano_seconds.value),
    );
  });

  it("UpdateContainerResources changes the memory limit in the host's cgroup file", async () => {
    const pod = await runPod('update');
    const id = await startContainer(pod, 'c', idle({ memoryLimit: 256 * 1024 * 1024 }));
    const limitFile = path.join(cgroupDir('memory', containerCgroup(pod, id)), 'memory.limit_in_bytes');
    expect(fs.readFileSync(limitFile, 'utf8').trim()).toBe(String(256 * 1024 * 1024));
    await cri('UpdateContainerResources', {
      container_id: id,
      linux: { memory_limit_in_bytes: 64 * 1024 * 1024 },
    });
    expect(fs.readFileSync(limitFile, 'utf8').trim()).toBe(String(64 * 1024 * 1024));
    // The container still runs, in that cgroup.
    const pid = await containerPid(id);
    const procs = fs.readFileSync(path.join(path.dirname(limitFile), 'cgroup.procs'), 'utf8');
    expect(procs.split('\n')).toContain(String(pid));
  });
});

describe('exits', () => {
  it('a container that exits is seen as exited with its code', async () => {
    const pod = await runPod('exit');
    const ok = await startContainer(pod, 'ok', { command: ['sh', '-c', 'echo bye'] });
    const bad = await startContainer(pod, 'bad', { command: ['sh', '-c', 'exit 3'] });
    const okStatus = await waitForExit(ok);
    expect(okStatus).toMatchObject({ exit_code: 0, reason: 'Completed' });
    const badStatus = await waitForExit(bad);
    expect(badStatus).toMatchObject({ exit_code: 3, reason: 'Error' });
    // Nanoseconds since the epoch (int64, as a string here). CRI takes started_at when Start
    // returns and finished_at from the exit event: for a process this short the second may be
    // the earlier (containerd's own shim too), so only its presence is checked.
    expect(BigInt(badStatus.finished_at)).toBeGreaterThan(0n);
  });

  it('an OOM-killed container reports reason OOMKilled', async () => {
    const pod = await runPod('oom');
    // A string doubled until the 16 MiB limit kills the shell.
    const id = await startContainer(pod, 'hog', {
      command: ['sh', '-c', 'x=0123456789abcdef; while :; do x=$x$x; done'],
      memoryLimit: 16 * 1024 * 1024,
    });
    const status = await waitForExit(id);
    expect(status).toMatchObject({ exit_code: 137, reason: 'OOMKilled' });
  });

  it('StopContainer sends SIGTERM, then SIGKILL after the grace period; the pod then goes away with its shim', async () => {
    const pod = await runPod('stop');
    const stubborn = await startContainer(pod, 'stubborn', {
      command: ['sh', '-c', "trap 'echo got-term' TERM; echo ready; while :; do sleep 0.1; done"],
    });
    const polite = await startContainer(pod, 'polite', {
      command: ['sh', '-c', "trap 'echo bye; exit 0' TERM; echo ready; while :; do sleep 0.1; done"],
    });
    await waitFor(
      'both to trap TERM',
      () => logHas(pod, 'stubborn', 'ready') && logHas(pod, 'polite', 'ready'),
      SETTLE_MS,
    );
    const sandbox = await sandboxInfo(pod);
    const pids = [sandbox.pid as number, await containerPid(stubborn), await containerPid(polite)];
    const shim = parentOf(pids[0])!;

    await cri('StopContainer', { container_id: stubborn, timeout: 2 });
    const stubbornStatus = await containerStatus(stubborn);
    expect(stubbornStatus).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 137 });
    expect(logHas(pod, 'stubborn', 'got-term')).toBe(true);
    await cri('StopContainer', { container_id: polite, timeout: 30 });
    expect(await containerStatus(polite)).toMatchObject({ state: 'CONTAINER_EXITED', exit_code: 0 });
    expect(logHas(pod, 'polite', 'bye')).toBe(true);

    for (const id of [stubborn, polite]) await cri('RemoveContainer', { container_id: id });
    expect(procAlive(shim)).toBe(true);
    await cri('StopPodSandbox', { pod_sandbox_id: pod.id });
    await cri('RemovePodSandbox', { pod_sandbox_id: pod.id });
    pod.id = '';
    await waitFor('the shim to exit', () => !procAlive(shim), SETTLE_MS);
    for (const pid of pids) expect(procAlive(pid)).toBe(false);
    // afterEach checks the rest: mounts, cgroups, state dirs, bundles, network namespaces.
  });
});

describe('several pods', () => {
  it('three pods at once run under three shim processes, one per pod', async () => {
    const three = await Promise.all([runPod('a'), runPod('b'), runPod('c')]);
    const ids = await Promise.all(three.map((pod) => startContainer(pod, 'c', idle())));
    const shimOf = async (pod: Pod) => parentOf((await sandboxInfo(pod)).pid as number);
    const sandboxShims = await Promise.all(three.map(shimOf));
    const containerShims = await Promise.all(ids.map(async (id) => parentOf(await containerPid(id))));
    expect(containerShims).toEqual(sandboxShims);
    expect(new Set(sandboxShims).size).toBe(3);
    const servers = shimProcesses(node.containerd.socket).filter((p) => p.action === null);
    expect(servers.map((p) => p.pid).sort()).toEqual([...sandboxShims].sort());
  });
});

function logHas(pod: Pod, container: string, text: string): boolean {
  try {
    const log = fs.readFileSync(path.join(pod.logDir, `${container}.log`), 'utf8');
    // CRI's log format: <time> <stream> <P|F> <line>.
    return log.split('\n').some((line) => line.split(' ').slice(3).join(' ') === text);
  } catch {
    return false;
  }
}

/** Host processes whose argv is exactly `argv`. */
function processesWithArgv(argv: string[]): number[] {
  const want = argv.join('\0') + '\0';
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/cmdline`, 'utf8') === want) out.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return out;
}

/**
 * Runs an Exec URL over a WebSocket with the Kubernetes channel protocol v4 (each binary message
 * starts with its channel: 1 stdout, 2 stderr, 3 the final status as JSON).
 */
function streamExec(url: string): Promise<{ stdout: string; stderr: string; status: Message }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), ['v4.channel.k8s.io']);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let status: Message = null;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error('the exec stream did not end'));
    }, SETTLE_MS);
    ws.on('message', (data: Buffer) => {
      const body = data.subarray(1);
      if (data[0] === 1) out.push(body);
      else if (data[0] === 2) err.push(body);
      else if (data[0] === 3 && body.length) status = JSON.parse(body.toString());
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    ws.on('close', () => {
      clearTimeout(timer);
      resolve({ stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), status });
    });
  });
}
