import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadSettings } from '../../src/config/config.ts';

const base = { EVENT_PAUSE_CONFIG: 'config/flows.json' };

test('STANDBY_REPLICAS: 0 by default, 0 or 1 accepted, anything else stops startup naming the setting', () => {
  assert.equal(loadSettings(base).runtime.standbyReplicas, 0);
  assert.equal(loadSettings({ ...base, STANDBY_REPLICAS: '1' }).runtime.standbyReplicas, 1);
  assert.equal(loadSettings({ ...base, STANDBY_REPLICAS: ' 0 ' }).runtime.standbyReplicas, 0);
  for (const bad of ['2', '-1', 'yes', '1.0']) {
    assert.throws(() => loadSettings({ ...base, STANDBY_REPLICAS: bad }), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.setting, 'STANDBY_REPLICAS');
      assert.match(error.message, /invalid setting STANDBY_REPLICAS: expected 0 \(off\) or 1/);
      return true;
    });
  }
});
