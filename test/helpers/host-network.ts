// The network rule, checked: a test file that starts container engines calls guardHostNetwork()
// first, so that after everything else of the file (engines stopped) the host has the same
// network interfaces, the same named network namespaces and the same forwarding settings as before.
import * as fs from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';

export interface HostNetwork {
  links: string[];
  netns: string[];
  ipv4Forward: string;
  ipv6Forward: string;
}

function list(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort();
  } catch {
    return [];
  }
}

function read(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '?';
  }
}

export function snapshotHostNetwork(): HostNetwork {
  return {
    // What `ip link` lists (the host network namespace is ours).
    links: list('/sys/class/net'),
    netns: list('/run/netns'),
    ipv4Forward: read('/proc/sys/net/ipv4/ip_forward'),
    ipv6Forward: read('/proc/sys/net/ipv6/conf/all/forwarding'),
  };
}

/** Registers the check; call it before the hooks that start engines (after hooks run in reverse). */
export function guardHostNetwork(): void {
  let before: HostNetwork | null = null;
  beforeAll(() => {
    before = snapshotHostNetwork();
  });
  afterAll(() => {
    if (before) expect(snapshotHostNetwork(), 'host network changed').toEqual(before);
  });
}
