import { describe, expect, it } from '@jest/globals';
import { ConfigValidationError, heartbeatPortOf, parseAppConfig } from '../../src/config/app-config.js';
import {
  heartbeatTiming,
  heartbeatTimingProblem,
  MIN_HEARTBEAT_TIMEOUT_MS,
} from '../../src/shared/heartbeat-timing.js';

function configError(env: Record<string, string>): string {
  try {
    parseAppConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigValidationError);
    return (err as Error).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('heartbeat timing', () => {
  it('gives the defaults the docs name: 5 s interval, 6.5 s timeout, 1 s retry for a 20 s threshold', () => {
    expect(heartbeatTiming(5000, 20_000)).toEqual({ intervalMs: 5000, timeoutMs: 6500, retryMs: 1000 });
  });

  it('leaves room for a missed heartbeat and two more full attempts in every accepted combination', () => {
    for (const interval of [100, 300, 500, 1000, 2000, 5000, 30_000, 300_000]) {
      for (const factor of [3, 3.5, 4, 10, 100]) {
        const offline = Math.round(interval * factor);
        if (heartbeatTimingProblem(interval, offline)) continue;
        const { timeoutMs, retryMs } = heartbeatTiming(interval, offline);
        expect(timeoutMs).toBeGreaterThanOrEqual(MIN_HEARTBEAT_TIMEOUT_MS);
        expect(timeoutMs).toBeLessThanOrEqual(Math.max(2 * interval, MIN_HEARTBEAT_TIMEOUT_MS));
        expect(retryMs).toBeLessThanOrEqual(Math.max(100, interval / 4));
        expect(interval + 2 * (timeoutMs + retryMs)).toBeLessThanOrEqual(offline);
      }
    }
  });

  it('is what every combination the tests and benchmarks use accepts', () => {
    for (const [interval, offline] of [
      [300, 1500],
      [300, 3000],
      [2000, 6000],
      [500, 5000],
      [1000, 20_000],
      [5000, 20_000],
    ] as const) {
      expect(heartbeatTimingProblem(interval, offline)).toBeNull();
    }
  });

  it('refuses a threshold under 3 intervals, naming both variables', () => {
    const message = configError({ NODE_HEARTBEAT_INTERVAL_MS: '5000', NODE_OFFLINE_AFTER_MS: '12000' });
    expect(message).toContain('NODE_OFFLINE_AFTER_MS="12000"');
    expect(message).toContain('at least 3 × NODE_HEARTBEAT_INTERVAL_MS (15000 ms for NODE_HEARTBEAT_INTERVAL_MS=5000)');
  });

  it('refuses a threshold that leaves no room for two timed attempts after a missed one', () => {
    const message = configError({ NODE_HEARTBEAT_INTERVAL_MS: '100', NODE_OFFLINE_AFTER_MS: '400' });
    expect(message).toContain('NODE_OFFLINE_AFTER_MS="400"');
    expect(message).toContain('NODE_HEARTBEAT_INTERVAL_MS + 2 × (250 ms timeout + 100 ms retry) = 800 ms');
    expect(parseAppConfig({ NODE_HEARTBEAT_INTERVAL_MS: '100', NODE_OFFLINE_AFTER_MS: '800' })).toMatchObject({
      NODE_OFFLINE_AFTER_MS: 800,
    });
  });

  it('refuses a heartbeat port equal to PORT or not a port; by default PORT + 1, any free one beside PORT 0, or off', () => {
    expect(configError({ PORT: '3000', NODE_HEARTBEAT_PORT: '3000' })).toContain(
      'NODE_HEARTBEAT_PORT="3000": must differ from PORT',
    );
    expect(configError({ NODE_HEARTBEAT_PORT: 'eighty' })).toContain(
      'NODE_HEARTBEAT_PORT="eighty": must be a port (0-65535; 0: any free port) or "off"',
    );
    expect(configError({ NODE_HEARTBEAT_PORT: '70000' })).toContain('NODE_HEARTBEAT_PORT="70000"');
    expect(configError({ PORT: '65535' })).toContain('unset means PORT + 1, and PORT is 65535');
    expect(heartbeatPortOf(parseAppConfig({}))).toBe(3001);
    expect(heartbeatPortOf(parseAppConfig({ PORT: '8080' }))).toBe(8081);
    expect(heartbeatPortOf(parseAppConfig({ PORT: '0' }))).toBe(0);
    expect(heartbeatPortOf(parseAppConfig({ PORT: '8080', NODE_HEARTBEAT_PORT: '0' }))).toBe(0);
    expect(heartbeatPortOf(parseAppConfig({ NODE_HEARTBEAT_PORT: '9100' }))).toBe(9100);
    expect(heartbeatPortOf(parseAppConfig({ NODE_HEARTBEAT_PORT: 'off' }))).toBeNull();
    expect(heartbeatPortOf(parseAppConfig({ NODE_HEARTBEAT_PORT: 'OFF' }))).toBeNull();
  });
});
