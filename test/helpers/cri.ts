// Playing the kubelet: a private containerd with its CRI plugin, set up as a Kubernetes node
// would be for tsrunc (runtime handler `tsrunc` -> io.containerd.tsrunc.v1), and a small CRI v1
// client over its socket (@grpc/grpc-js; the messages are this repository's own subset of the
// CRI API, test/helpers/cri.proto).
//
// Network: pods get their own network namespace holding `lo` alone. containerd 1.6's CRI plugin
// refuses a pod whose CNI result has no address for its default interface ("failed to find
// network info for sandbox"), and the loopback plugin reports its address on `lo`. The network
// is therefore the `loopback` plugin followed by the `static` IPAM plugin run as the last link of
// the chain: `static` configures nothing, it only reports the address given to it, 127.0.0.1/8,
// which is the pod's loopback address. So the pod IP CRI shows is 127.0.0.1 and no pod has a
// route anywhere.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  type ContainerdDaemon,
  engineCgroupParent,
  engineDir,
  removeEngineCgroupParent,
  removeEngineDir,
  startContainerd,
  writeImageArchive,
} from './docker';
import { testEnv } from './env';
import { TSRUNC_SHIM_RUNTIME } from './shim';

/** The CRI runtime handler name (the key in containerd's runtimes table; a RuntimeClass's
 *  `handler`). */
export const HANDLER = 'tsrunc';
/** The images the CRI tests use, both made from the suite's busybox rootfs. */
export const BUSYBOX_IMAGE = 'docker.io/library/busybox:local';
export const PAUSE_IMAGE = 'docker.io/library/tsrunc-pause:local';
const CNI_BIN_DIR = '/usr/lib/cni';

export interface CriNode {
  containerd: ContainerdDaemon;
  runtime: CriClient;
  /** Where CRI mounts pod network namespaces (netns_mounts_under_state_dir). */
  netnsDir: string;
  stop(): Promise<void>;
}

/**
 * Starts containerd with the CRI plugin on a private socket and dirs under the engine dir, the
 * `tsrunc` handler whose shim is found on `pathDirs`, the loopback-only CNI network and the two
 * images imported into the k8s.io namespace.
 */
export async function startCriNode(opts: {
  pathDirs: string[];
  shimRoot: string;
  /** The handler's runtime_type: tsrunc's shim, or containerd's runc shim (the reference the
   *  tests were checked against). */
  runtimeType: string;
}): Promise<CriNode> {
  const dir = engineDir('cri');
  const cniDir = path.join(dir, 'cni');
  fs.mkdirSync(cniDir);
  fs.writeFileSync(
    path.join(cniDir, '10-tsrunc-loopback.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: 'tsrunc-loopback',
      plugins: [
        { type: 'loopback' },
        { type: 'static', ipam: { type: 'static', addresses: [{ address: '127.0.0.1/8' }] } },
      ],
    }),
  );
  // CRI decodes a handler's options by its runtime type: runc's shim takes runc's Options (Root),
  // any other shim runtimeoptions (TypeUrl, ConfigPath), and tsrunc's shim reads its own options
  // (src/shim/options.ts) from the file ConfigPath names.
  let options: string[];
  if (opts.runtimeType === TSRUNC_SHIM_RUNTIME) {
    const shimConfig = path.join(dir, 'tsrunc-shim.json');
    fs.writeFileSync(shimConfig, JSON.stringify({ root: opts.shimRoot }));
    options = [`  TypeUrl = "${TSRUNC_SHIM_RUNTIME}.options"`, `  ConfigPath = "${shimConfig}"`];
  } else {
    options = [`  Root = "${opts.shimRoot}"`];
  }
  const streamPort = await freeLoopbackPort();
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  const config = [
    'version = 2',
    `[${cri}]`,
    `  sandbox_image = "${PAUSE_IMAGE}"`,
    // containerd's own streaming server (Exec/Attach URLs): loopback only.
    '  stream_server_address = "127.0.0.1"',
    `  stream_server_port = "${streamPort}"`,
    // No AppArmor on these machines; netns mounts under our state dir, not /var/run/netns.
    '  disable_apparmor = true',
    '  netns_mounts_under_state_dir = true',
    // These machines' capability bounding set lacks CAP_SYS_RESOURCE, without which no process
    // may lower an oom_score_adj below its minimum (0): the -998 CRI gives a sandbox fails with
    // any runtime. This is CRI's option for such nodes: never below containerd's own score.
    '  restrict_oom_score_adj = true',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    // As on a node: runc stays the default, tsrunc is selected by the handler name.
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.${HANDLER}]`,
    `  runtime_type = "${opts.runtimeType}"`,
    `[${cri}.containerd.runtimes.${HANDLER}.options]`,
    ...options,
    `[${cri}.cni]`,
    `  bin_dir = "${CNI_BIN_DIR}"`,
    `  conf_dir = "${cniDir}"`,
    '',
  ].join('\n');
  const containerd = await startContainerd({ dir, pathDirs: opts.pathDirs, namespace: 'k8s.io', config });
  const runtime = new CriClient(containerd.socket);
  try {
    for (const [tag, cmd] of [
      ['busybox:local', ['sh']],
      ['tsrunc-pause:local', ['sleep', '2147483647']],
    ] as const) {
      const archive = await writeImageArchive(testEnv().rootfs, tag, dir, { cmd: [...cmd] });
      await containerd.ctr(['image', 'import', archive]);
      fs.rmSync(archive);
    }
    await runtime.call('Version', { version: 'v1' });
  } catch (error) {
    const log = fs.readFileSync(path.join(dir, 'containerd.log'), 'utf8');
    const criLines = log.split('\n').filter((l) => /cri|level=(error|warning)/.test(l));
    (error as Error).message += `\n--- containerd log (CRI and errors)\n${criLines.slice(-20).join('\n')}`;
    runtime.close();
    await containerd.stop();
    await removeEngineDir(dir);
    removeEngineCgroupParent();
    throw error;
  }
  return {
    containerd,
    runtime,
    netnsDir: path.join(dir, 'containerd-state', 'io.containerd.grpc.v1.cri', 'netns'),
    // The engine dir and the pods' cgroup parent are ours (startContainerd leaves both to the
    // owner of the dir it is given).
    stop: async () => {
      runtime.close();
      await containerd.stop();
      await removeEngineDir(dir);
      removeEngineCgroupParent();
    },
  };
}

/** A pod's cgroup parent below the engines' (a kubelet makes `kubepods/pod<uid>`). */
export function podCgroupParent(uid: string): string {
  return `${engineCgroupParent()}/pod${uid}`;
}

/** A TCP port on 127.0.0.1 that was free a moment ago (containerd's streaming server cannot be
 *  given port 0: the URLs it returns would name port 0). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(port));
    });
  });
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Message = any;

let definition: grpc.GrpcObject | null = null;

function runtimeServiceConstructor(): grpc.ServiceClientConstructor {
  if (!definition) {
    const packageDefinition = protoLoader.loadSync(path.join(__dirname, 'cri.proto'), {
      keepCase: true,
      // 64-bit fields as strings (no precision loss), enums as their names, every field present.
      longs: String,
      enums: String,
      defaults: true,
      bytes: Buffer,
    });
    definition = grpc.loadPackageDefinition(packageDefinition);
  }
  const runtime = (definition.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return runtime.RuntimeService as grpc.ServiceClientConstructor;
}

/** CRI's RuntimeService on containerd's socket: `call(method, request)` resolves to the response
 *  (fields in snake_case, as in the .proto) or rejects with the gRPC error. */
export class CriClient {
  private readonly client: grpc.Client;

  constructor(socket: string) {
    const Service = runtimeServiceConstructor();
    this.client = new Service(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  call(method: string, request: Message, timeoutMs = 120_000): Promise<Message> {
    return new Promise((resolve, reject) => {
      const fn = (this.client as unknown as Record<string, (...a: unknown[]) => void>)[method];
      if (typeof fn !== 'function') {
        reject(new Error(`CRI RuntimeService has no method ${method} in test/helpers/cri.proto`));
        return;
      }
      fn.call(
        this.client,
        request,
        { deadline: Date.now() + timeoutMs },
        (error: grpc.ServiceError | null, response: Message) => {
          if (error) reject(new Error(`CRI ${method}: ${error.details || error.message}`));
          else resolve(response);
        },
      );
    });
  }

  close(): void {
    this.client.close();
  }
}
