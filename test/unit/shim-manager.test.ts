// The shim's command line, options and grouping, against what containerd 1.6.20 sent in the
// recorded traces (/work/shared/containerd-shim-v2/traces, copied here as constants).
import { afterEach, describe, expect, it } from 'vitest';

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { parseShimFlags } from '../../src/shim/flags';
import { groupOf, socketPathOf } from '../../src/shim/manager';
import { readConfigFile, shimOptionsFrom } from '../../src/shim/options';
import { runcOptions, wellKnown } from '../../src/shim/proto';

// traces/D-grouping.jsonl: the `start` and `delete` invocations of g1a.
const START_ARGV = [
  '-namespace',
  'tsrec',
  '-address',
  '/run/ctrd-test/containerd.sock',
  '-publish-binary',
  '/usr/bin/containerd',
  '-id',
  'g1a',
  '-debug',
  'start',
];
const DELETE_ARGV = [
  '-namespace',
  'tsrec',
  '-address',
  '/run/ctrd-test/containerd.sock',
  '-publish-binary',
  '/usr/bin/containerd',
  '-id',
  'g1a',
  '-bundle',
  '/run/ctrd-test/state/io.containerd.runtime.v2.task/tsrec/g1a',
  'delete',
];
// traces/H-runtime-options.jsonl: start's stdin with `ctr run --runtime-config-path`.
const RUNTIME_OPTIONS_STDIN =
  '0a1972756e74696d656f7074696f6e732e76312e4f7074696f6e73122312212f746d702f637472642d746573742f747372756e632d636f6e6669672e6a736f6e';

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function tempFile(name: string, content: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsrunc-test-shim-'));
  dirs.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, content);
  return file;
}

describe('shim flags', () => {
  it('parses start and delete as containerd writes them', () => {
    const start = parseShimFlags(START_ARGV);
    expect(start).toMatchObject({
      namespace: 'tsrec',
      address: '/run/ctrd-test/containerd.sock',
      id: 'g1a',
      debug: true,
      action: 'start',
      bundle: '',
    });
    const del = parseShimFlags(DELETE_ARGV);
    expect(del).toMatchObject({
      id: 'g1a',
      debug: false,
      action: 'delete',
      bundle: '/run/ctrd-test/state/io.containerd.runtime.v2.task/tsrec/g1a',
    });
    expect(parseShimFlags(['-namespace', 'ns', '-id', 'x', '-address', '/a']).action).toBe('');
    expect(parseShimFlags(['--namespace=ns', '-v']).version).toBe(true);
  });

  it('refuses unknown flags and a missing value', () => {
    expect(() => parseShimFlags(['-bogus', 'start'])).toThrow('flag provided but not defined: -bogus');
    expect(() => parseShimFlags(['-id'])).toThrow('flag needs an argument: -id');
  });
});

describe('shim grouping', () => {
  it('groups by the runc group annotation, then the CRI sandbox id, else per container', () => {
    expect(groupOf('c1', 'ns', {}, {})).toBe('c1');
    expect(groupOf('c1', 'ns', { 'io.kubernetes.cri.sandbox-id': 'pod' }, {})).toBe('pod');
    expect(
      groupOf('c1', 'ns', { 'io.kubernetes.cri.sandbox-id': 'pod', 'io.containerd.runc.v2.group': 'g' }, {}),
    ).toBe('g');
    expect(groupOf('c1', 'ns', { 'io.containerd.runc.v2.group': 'g' }, { grouping: 'namespace' })).toBe(
      'namespace:ns',
    );
  });

  it('gives one socket per (address, namespace, group), short enough for sun_path', () => {
    const a = socketPathOf('/run/containerd/containerd.sock', 'default', 'g');
    expect(a).toMatch(/^\/run\/containerd\/s\/[0-9a-f]{64}$/);
    expect(a.length).toBeLessThan(108);
    expect(socketPathOf('/run/containerd/containerd.sock', 'default', 'g')).toBe(a);
    expect(socketPathOf('/run/containerd/containerd.sock', 'other', 'g')).not.toBe(a);
    expect(socketPathOf('/run/other.sock', 'default', 'g')).not.toBe(a);
    expect(socketPathOf('/run/containerd/containerd.sock', 'default', 'h')).not.toBe(a);
  });
});

describe('shim options', () => {
  it('reads the config file that runtimeoptions.v1.Options names (bytes from the trace)', async () => {
    const any = wellKnown.Any.decode(Buffer.from(RUNTIME_OPTIONS_STDIN, 'hex'));
    expect(any.type_url).toBe('runtimeoptions.v1.Options');
    // The path in the trace does not exist here: a named file must exist.
    await expect(shimOptionsFrom(any, () => undefined)).rejects.toThrow(
      /^shim config \/tmp\/ctrd-test\/tsrunc-config\.json: ENOENT/,
    );
    const file = tempFile(
      'shim.json',
      JSON.stringify({ root: '/run/x', grouping: 'namespace', systemdCgroup: false }),
    );
    const value = Buffer.concat([Buffer.from([0x12, file.length]), Buffer.from(file)]);
    expect(await shimOptionsFrom({ type_url: 'runtimeoptions.v1.Options', value }, () => undefined)).toEqual({
      root: '/run/x',
      grouping: 'namespace',
      systemdCgroup: false,
    });
  });

  it('takes root, systemd_cgroup, no_pivot_root and no_new_keyring from runc options', async () => {
    const value = runcOptions.Options.encode({
      root: '/run/r',
      systemdCgroup: true,
      noPivotRoot: true,
      noNewKeyring: true,
      binaryName: 'runc',
    }).finish();
    const warnings: string[] = [];
    expect(
      await shimOptionsFrom({ type_url: 'containerd.runc.v1.Options', value }, (m) => warnings.push(m)),
    ).toEqual({
      root: '/run/r',
      systemdCgroup: true,
      noPivotRoot: true,
      noNewKeyring: true,
    });
    expect(warnings).toEqual(['options: binary_name runc ignored: this shim runs tsrunc in-process']);
  });

  it('ignores an unknown options type with a warning', async () => {
    const warnings: string[] = [];
    await shimOptionsFrom({ type_url: 'example.com/Other', value: new Uint8Array([1, 2]) }, (m) =>
      warnings.push(m),
    );
    expect(warnings).toEqual(['options: type example.com/Other is not known to this shim: ignored']);
  });

  it('refuses a bad config file with one line naming the field', () => {
    expect(() => readConfigFile(tempFile('a.json', '{"grouping":"pod"}'), false)).toThrow(
      /: grouping must be "annotation" or "namespace"$/,
    );
    expect(() => readConfigFile(tempFile('b.json', '{"root":"relative"}'), false)).toThrow(
      /: root must be an absolute path$/,
    );
    expect(() => readConfigFile(tempFile('c.json', '{"rooot":"/x"}'), false)).toThrow(
      /: unknown field "rooot"$/,
    );
    expect(() => readConfigFile(tempFile('d.json', '[1]'), false)).toThrow(/: must be a JSON object$/);
    expect(() => readConfigFile(tempFile('e.json', '{'), false)).toThrow(/: not JSON: /);
    expect(readConfigFile('/nonexistent/shim.json', true)).toEqual({});
  });
});
