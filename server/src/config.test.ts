import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './config.js';

describe('loadConfig', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: '127.0.0.1',
      logLevel: 'info',
      heartbeatMs: 25_000,
      commitMaxBatch: 256,
    });
    expect(c.dataDir.endsWith('/data')).toBe(true);
    expect(c.limits).toMatchObject({ maxFrameBytes: 65536, maxTextLength: 10000, framesPerSecond: 20, frameBurst: 40 });
    expect(c.maxOutboundBytes).toBe(1024 * 1024);
  });

  it.each([
    [{ PORT: '70000' }, /PORT="70000" is invalid: expected an integer from 0 to 65535/],
    [{ PORT: '80.5' }, /PORT/],
    [{ PORT: ' 80' }, /PORT/],
    [{ HEARTBEAT_INTERVAL_MS: '-1' }, /HEARTBEAT_INTERVAL_MS/],
    [{ LOG_LEVEL: 'verbose' }, /LOG_LEVEL="verbose" is invalid: expected one of fatal, error/],
    [{ HOST: ' 0.0.0.0' }, /HOST=" 0.0.0.0" is invalid/],
    [
      { MAX_OUTBOUND_BYTES: '70000', MAX_FRAME_BYTES: '65536' },
      /MAX_OUTBOUND_BYTES=70000 is invalid: it must be at least twice MAX_FRAME_BYTES/,
    ],
    [{ REDIS_URL: 'http://127.0.0.1' }, /REDIS_URL has scheme http: but must be redis: or rediss:/],
    [{ DATABASE_URL: 'not a url' }, /DATABASE_URL is not a valid URL/],
  ])('rejects %o naming the variable', (env, message) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(message);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ PORT: '', DATABASE_URL: '' }).port).toBe(8080);
  });
});
