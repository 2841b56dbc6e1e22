// Signal names and numbers as `kill` accepts them: `TERM`, `SIGTERM`, `sigterm`, `15`,
// `SIGRTMIN+3`, `RTMAX-2`, and `0` (kill(2) then only checks that the process exists; runc takes
// it too). Unknown ones fail with runc's wording: unknown signal "FOO".
import { constants as osConstants } from 'node:os';

import { RuntimeError } from '../errors';

export const DEFAULT_SIGNAL = osConstants.signals.SIGTERM;

// The real-time range as a C program sees it: the kernel's 32 and 33 are taken by glibc/NPTL,
// so SIGRTMIN is 34 for every process a container would run.
const SIGRTMIN = 34;
const SIGRTMAX = 64;

export function parseSignal(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_SIGNAL;
  const number = parseSignalNumber(raw) ?? parseSignalName(raw);
  if (number === null) throw new RuntimeError(`unknown signal ${JSON.stringify(raw)}`);
  return number;
}

function parseSignalNumber(raw: string): number | null {
  if (!/^[0-9]+$/.test(raw)) return null;
  const n = Number(raw);
  return n <= SIGRTMAX ? n : null;
}

function parseSignalName(raw: string): number | null {
  let name = raw.toUpperCase();
  if (!name.startsWith('SIG')) name = `SIG${name}`;
  const plain = (osConstants.signals as Record<string, number | undefined>)[name];
  if (plain !== undefined) return plain;
  return parseRealtimeName(name);
}

/** SIGRTMIN, SIGRTMIN+n, SIGRTMAX, SIGRTMAX-n, within the real-time range. */
function parseRealtimeName(name: string): number | null {
  const match = /^SIGRT(MIN|MAX)(?:([+-])([0-9]+))?$/.exec(name);
  if (!match) return null;
  const [, base, sign, offsetText] = match;
  if (sign && (base === 'MIN') !== (sign === '+')) return null; // RTMIN-n and RTMAX+n are outside
  const offset = offsetText ? Number(offsetText) : 0;
  const n = base === 'MIN' ? SIGRTMIN + offset : SIGRTMAX - offset;
  return n >= SIGRTMIN && n <= SIGRTMAX ? n : null;
}
