import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.ts';

describe('loadConfig', () => {
  it('gives the documented defaults on an empty environment', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 4000,
      host: '0.0.0.0',
      clientUrl: 'http://localhost:3000',
      autoCreateRooms: true,
      maxMessageBytes: 65536,
      heartbeatIntervalMs: 15000,
      iceServers: [{ urls: ['stun:stun.l.google.com:19302'] }],
      sfu: { enabled: true, upgradeAt: 4, downgradeAt: 2, downgradeDelayMs: 5000, rtcPort: 40000 },
    });
    expect(c.redis).toBeUndefined();
    expect(c.sfu.numWorkers).toBeGreaterThan(0);
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('selects Redis from REDIS_URL or REDIS_HOST', () => {
    expect(loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379' }).redis).toMatchObject({
      url: 'redis://127.0.0.1:6379',
    });
    expect(loadConfig({ REDIS_HOST: 'redis', REDIS_PORT: '6380', REDIS_PASSWORD: 'pw' }).redis).toMatchObject(
      {
        host: 'redis',
        port: 6380,
        password: 'pw',
      },
    );
  });

  it('names the variable in the error for an invalid value', () => {
    const bad = (env: Record<string, string>) => () => loadConfig(env);
    expect(bad({ PORT: 'eighty' })).toThrow(ConfigError);
    expect(bad({ PORT: 'eighty' })).toThrow(/PORT: must be a number/);
    expect(bad({ AUTO_CREATE_ROOMS: 'maybe' })).toThrow(/AUTO_CREATE_ROOMS/);
    expect(bad({ CLIENT_URL: 'not a url' })).toThrow(/CLIENT_URL/);
    expect(bad({ REDIS_URL: 'http://x' })).toThrow(/REDIS_URL/);
    expect(bad({ SFU_UPGRADE_AT: '3', SFU_DOWNGRADE_AT: '3' })).toThrow(/SFU_DOWNGRADE_AT/);
    expect(bad({ TURN_URL: 'turn:x:3478' })).toThrow(/TURN_USERNAME/);
    expect(bad({ RTC_MIN_PORT: '40000' })).toThrow(/RTC_MAX_PORT/);
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', REDIS_URL: '' })).toMatchObject({ port: 4000 });
    expect(loadConfig({ REDIS_URL: '' }).redis).toBeUndefined();
  });

  it('builds the TURN entry with credentials', () => {
    const c = loadConfig({
      STUN_URLS: '',
      TURN_URL: 'turn:t:3478',
      TURN_USERNAME: 'u',
      TURN_CREDENTIAL: 'p',
    });
    expect(c.iceServers).toEqual([
      { urls: ['turn:t:3478'], username: 'u', credential: 'p', credentialType: 'password' },
    ]);
  });
});
