import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadSettings } from '../../src/config/config.ts';

const base = { EVENT_PAUSE_CONFIG: 'config/flows.json' };

function refused(env: Record<string, string>, setting: string, message: RegExp): void {
  assert.throws(() => loadSettings({ ...base, ...env }), (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.setting, setting);
    assert.match(error.message, message);
    return true;
  });
}

test('STATIC_MEMBERSHIP, INSTANCE_ID, SESSION_TIMEOUT_MS: defaults, accepted values, and refusals naming the setting', () => {
  const defaults = loadSettings(base).runtime;
  assert.equal(defaults.staticMembership, false);
  assert.equal(defaults.instanceId, undefined);
  assert.equal(defaults.sessionTimeoutMs, 10_000);

  const set = loadSettings({ ...base, STATIC_MEMBERSHIP: 'true', INSTANCE_ID: 'event-pause-0', SESSION_TIMEOUT_MS: '30000' }).runtime;
  assert.equal(set.staticMembership, true);
  assert.equal(set.instanceId, 'event-pause-0');
  assert.equal(set.sessionTimeoutMs, 30_000);

  refused({ STATIC_MEMBERSHIP: 'yes' }, 'STATIC_MEMBERSHIP', /expected true or false, got "yes"/);
  refused({ INSTANCE_ID: 'pod 0' }, 'INSTANCE_ID', /expected 1 to 64 of/);
  refused({ INSTANCE_ID: 'x'.repeat(65) }, 'INSTANCE_ID', /expected 1 to 64 of/);
  refused({ SESSION_TIMEOUT_MS: '1000' }, 'SESSION_TIMEOUT_MS', /6000/);
});
