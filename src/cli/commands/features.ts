// tsrunc features: the runtime-spec features document, indented like runc's.
import type { Argv } from 'yargs';

import { print } from './common';

export function builder(y: Argv): Argv {
  return y;
}

export async function handler(): Promise<void> {
  const { features } = await import('../../runtime/features');
  print(JSON.stringify(features(), null, 4));
}
