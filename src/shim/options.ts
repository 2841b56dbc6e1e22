// What configures the shim: the options Any that containerd sends (on `start`'s stdin and in
// CreateTaskRequest.options), and the shim's own JSON file it may point at.
//
// - `containerd.runc.v1.Options` (ctr --runc-* flags, a CRI runtime of runc's type): root,
//   systemd_cgroup, no_pivot_root, no_new_keyring are honoured; the rest concern runc or CRIU.
// - `runtimeoptions.v1.Options` (CRI `options.ConfigPath`, `ctr --runtime-config-path`): a JSON
//   file of ours, ShimConfig below. With neither, /etc/tsrunc/shim.json is read if it exists.
// - Anything else is ignored with a log line: the Go shim fails there; tsrunc should not (a
//   CRI `TypeUrl` is free-form).
import * as fs from 'node:fs';

/** The shim's own configuration file (JSON). */
export interface ShimConfig {
  /** State root for the runtime library; the containerd namespace is appended. */
  root?: string;
  systemdCgroup?: boolean;
  noPivotRoot?: boolean;
  noNewKeyring?: boolean;
  /**
   * Which containers share a shim process: "annotation" (default: containers with the same
   * io.containerd.runc.v2.group, else io.kubernetes.cri.sandbox-id, else one shim per
   * container) or "namespace" (every container of a containerd namespace in one shim).
   */
  grouping?: 'annotation' | 'namespace';
}

export const DEFAULT_CONFIG_FILE = '/etc/tsrunc/shim.json';
/** State root when nothing says otherwise (runc's is /run/containerd/runc). */
export const DEFAULT_ROOT = '/run/containerd/tsrunc';

const RUNC_OPTIONS = 'containerd.runc.v1.Options';
const RUNTIME_OPTIONS = 'runtimeoptions.v1.Options';

/** Options from an Any (absent or empty: the default file). Throws a one-line Error for a bad
 *  config file. `warn` gets what is ignored. The decoders load only when there is an Any. */
export async function shimOptionsFrom(
  any: { type_url?: string | null; value?: Uint8Array | null } | null | undefined,
  warn: (msg: string) => void,
): Promise<ShimConfig> {
  const typeUrl = any?.type_url ?? '';
  const value = any?.value ?? new Uint8Array();
  const bare = typeUrl.replace(/^.*\//, '');
  if (typeUrl === '') return readConfigFile(DEFAULT_CONFIG_FILE, true);
  const { runcOptions, runtimeOptions } = await import('./proto');
  if (bare === RUNC_OPTIONS) {
    const o = runcOptions.Options.decode(value);
    const config: ShimConfig = {};
    if (o.root) config.root = o.root;
    if (o.systemdCgroup) config.systemdCgroup = true;
    if (o.noPivotRoot) config.noPivotRoot = true;
    if (o.noNewKeyring) config.noNewKeyring = true;
    if (o.binaryName) warn(`options: binary_name ${o.binaryName} ignored: this shim runs tsrunc in-process`);
    return config;
  }
  if (bare === RUNTIME_OPTIONS) {
    const o = runtimeOptions.Options.decode(value);
    return o.configPath ? readConfigFile(o.configPath, false) : readConfigFile(DEFAULT_CONFIG_FILE, true);
  }
  warn(`options: type ${typeUrl} is not known to this shim: ignored`);
  return readConfigFile(DEFAULT_CONFIG_FILE, true);
}

export function readConfigFile(file: string, optional: boolean): ShimConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if (optional && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new Error(`shim config ${file}: ${(error as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`shim config ${file}: not JSON: ${(error as Error).message}`);
  }
  return checkConfig(file, parsed);
}

function checkConfig(file: string, parsed: unknown): ShimConfig {
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new Error(`shim config ${file}: must be a JSON object`);
  const config = parsed as Record<string, unknown>;
  const known = ['root', 'systemdCgroup', 'noPivotRoot', 'noNewKeyring', 'grouping'];
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) throw new Error(`shim config ${file}: unknown field "${key}"`);
  }
  if (config.root !== undefined && (typeof config.root !== 'string' || !config.root.startsWith('/')))
    throw new Error(`shim config ${file}: root must be an absolute path`);
  for (const key of ['systemdCgroup', 'noPivotRoot', 'noNewKeyring']) {
    if (config[key] !== undefined && typeof config[key] !== 'boolean')
      throw new Error(`shim config ${file}: ${key} must be true or false`);
  }
  if (config.grouping !== undefined && config.grouping !== 'annotation' && config.grouping !== 'namespace')
    throw new Error(`shim config ${file}: grouping must be "annotation" or "namespace"`);
  return config as ShimConfig;
}
