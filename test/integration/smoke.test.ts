import { describe, expect, it } from 'vitest';
import { runContainer } from '../helpers/tsrunc';

describe('smoke: tsrunc run of a busybox bundle', () => {
  it('runs a command and sees the configured hostname', async () => {
    const res = await runContainer((c) => {
      c.hostname = 'smoke-host';
      c.process.args = ['sh', '-c', 'echo hi; hostname'];
    });
    expect(res).toMatchObject({ code: 0, stdout: 'hi\nsmoke-host\n' });
  });

  it("exits with the container's exit code", async () => {
    const res = await runContainer((c) => {
      c.process.args = ['sh', '-c', 'exit 3'];
    });
    expect(res).toMatchObject({ code: 3 });
  });
});
