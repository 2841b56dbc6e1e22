// Commands callers use that are not written yet (exec, ps, pause, resume, update, events). They
// accept any flags, so a caller gets this one line rather than a flag-parsing error.
import type { Argv } from 'yargs';

import { RuntimeError } from '../../runtime/errors';
import type { CommandModule } from './common';

export function notImplemented(name: string): CommandModule {
  return {
    builder: (y: Argv) => y.strict(false),
    handler: () => {
      throw new RuntimeError(`${name}: not implemented yet`);
    },
  };
}
