import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FileOwnerSchema, resolveOwner } from '../../src/config/owner.js';

test('owner: user, user:group and uid:gid resolve to numeric ids', () => {
  assert.deepEqual(resolveOwner('root', 'targets.pgcat.owner'), { uid: 0, gid: 0 });
  assert.deepEqual(resolveOwner('root:root', 'targets.pgcat.owner'), { uid: 0, gid: 0 });
  assert.deepEqual(resolveOwner('1234:99', 'targets.pgcat.owner'), { uid: 1234, gid: 99 });
});

test('an unknown user or group is an error naming the key it came from', () => {
  assert.throws(() => resolveOwner('no_such_user_sy', 'targets.pgcat.owner'), {
    message: 'targets.pgcat.owner: no user no_such_user_sy in /etc/passwd',
  });
  assert.throws(() => resolveOwner('root:no_such_group_sy', 'targets.pgbouncer.owner'), {
    message: 'targets.pgbouncer.owner: no group no_such_group_sy in /etc/group',
  });
  assert.equal(FileOwnerSchema.safeParse('postgres;rm').success, false);
});
