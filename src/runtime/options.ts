// Options shared by every runtime entry point; the CLI fills them from its global flags.
export interface GlobalOptions {
  /** State root, default /run/tsrunc. */
  root: string;
  /** --systemd-cgroup: cgroupsPath is slice:prefix:name. */
  systemdCgroup: boolean;
}

export interface CreateOptions extends GlobalOptions {
  id: string;
  bundle: string;
  pidFile?: string;
  consoleSocket?: string;
  noPivot: boolean;
  noNewKeyring: boolean;
  preserveFds: number;
}

export interface RunOptions extends CreateOptions {
  detach: boolean;
  keep?: boolean;
}
