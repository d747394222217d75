import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileTemplate } from '../../src/render/index.js';
import type { SwitchyardError } from '../../src/errors.js';

test('renders without HTML escaping', () => {
  const t = compileTemplate('server {{name}} {{addr}}', 'x.hbs');
  assert.equal(t({ name: 'a&b', addr: '<1.2.3.4>' }), 'server a&b <1.2.3.4>');
});

test('a missing field is an error naming the template and line, not an empty string', () => {
  const t = compileTemplate('line one\nserver {{missing}}\n', 'user.hbs');
  assert.throws(
    () => t({}),
    (err: SwitchyardError) => {
      assert.equal(err.code, 'SY_ERR_RENDER_TEMPLATE');
      assert.match(err.message, /template user\.hbs: "missing" not defined/);
      assert.match(err.message, /2:/);
      return true;
    },
  );
});

test('a syntax error is reported at compile time with the template name', () => {
  assert.throws(
    () => compileTemplate('{{#each x}}no close', 'broken.hbs'),
    /template broken\.hbs: Parse error/,
  );
});

test('a strict-mode miss on a secret value does not print the value', () => {
  const t = compileTemplate('{{password.length2}}', 's.hbs');
  assert.throws(
    () => t({ password: 'hunter2-secret' }),
    (err: Error) => {
      assert.doesNotMatch(err.message, /hunter2/);
      return true;
    },
  );
});
