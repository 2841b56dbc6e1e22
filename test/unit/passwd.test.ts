import { describe, expect, it } from 'vitest';

import { homeInPasswd, withHome } from '../../src/plan/passwd';

describe('homeInPasswd', () => {
  const passwd =
    'root:x:0:0:root:/root:/bin/sh\nnohome:x:7:7:::/bin/sh\nbad:x:notanumber:0::/bad:/bin/sh\nshort:x:8\nalice:x:1000:1000::/home/alice:/bin/sh\n';
  it.each([
    [0, '/root'],
    [1000, '/home/alice'],
    [7, null],
    [8, null],
    [4242, null],
  ])('uid %i -> %s', (uid, home) => {
    expect(homeInPasswd(passwd, uid)).toBe(home);
  });
});

describe('withHome', () => {
  it('adds HOME only when there is none', () => {
    expect(withHome(['PATH=/bin'], () => '/root')).toEqual(['PATH=/bin', 'HOME=/root']);
    let asked = false;
    expect(
      withHome(['HOME=/x'], () => {
        asked = true;
        return '/root';
      }),
    ).toEqual(['HOME=/x']);
    expect(asked).toBe(false);
  });
});
