// `run` in the library: create, then start; a container whose start fails is deleted again.
// Waiting for its process and deleting it afterwards is the caller's part (the CLI's `run` does
// it in the foreground; a shim waits through the reaper).
import type { RuntimeContext } from './context';
import { type CreatedContainer, createContainer, type CreateOptions } from './create';
import { deleteContainer } from './lifecycle';
import { start } from './start';

export async function run(ctx: RuntimeContext, opts: CreateOptions): Promise<CreatedContainer> {
  const created = await createContainer(ctx, opts);
  try {
    await start(ctx, opts.id);
  } catch (error) {
    await deleteContainer(ctx, opts.id, true).catch((deleteError: unknown) =>
      ctx.logger.warn(`cannot delete ${opts.id} after its start failed: ${(deleteError as Error).message}`),
    );
    throw error;
  }
  return created;
}
