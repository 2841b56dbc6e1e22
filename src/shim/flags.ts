// The shim's command line, as containerd writes it (Go's flag package: single dash, value in
// the next argument, the action is the first non-flag argument):
//   start:  -namespace NS -address A -publish-binary B -id ID [-debug] start
//   delete: -namespace NS -address A -publish-binary B -id ID -bundle DIR delete
//   server: -namespace NS -id ID -address A [-debug]      (started by `start`, fd 3 listening)

export interface ShimFlags {
  namespace: string;
  address: string;
  publishBinary: string;
  id: string;
  bundle: string;
  socket: string;
  debug: boolean;
  version: boolean;
  /** 'start', 'delete', or '' for the long-lived server. */
  action: string;
}

const VALUE_FLAGS: Record<string, keyof ShimFlags> = {
  namespace: 'namespace',
  address: 'address',
  'publish-binary': 'publishBinary',
  id: 'id',
  bundle: 'bundle',
  socket: 'socket',
};
const BOOL_FLAGS: Record<string, 'debug' | 'version'> = { debug: 'debug', v: 'version', version: 'version' };

export function parseShimFlags(argv: string[]): ShimFlags {
  const flags: ShimFlags = {
    namespace: '',
    address: '',
    publishBinary: '',
    id: '',
    bundle: '',
    socket: '',
    debug: false,
    version: false,
    action: '',
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--' || !arg.startsWith('-') || arg === '-') {
      flags.action = arg === '--' ? (argv[i + 1] ?? '') : arg;
      break;
    }
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const name = eq < 0 ? body : body.slice(0, eq);
    if (name in BOOL_FLAGS) {
      flags[BOOL_FLAGS[name]] = eq < 0 ? true : body.slice(eq + 1) !== 'false';
    } else if (name in VALUE_FLAGS) {
      const value = eq < 0 ? argv[++i] : body.slice(eq + 1);
      if (value === undefined) throw new Error(`flag needs an argument: -${name}`);
      (flags[VALUE_FLAGS[name]] as string) = value;
    } else {
      throw new Error(`flag provided but not defined: -${name}`);
    }
  }
  return flags;
}
