import { describe, expect, it } from 'vitest';
import { CLOSE_CODES, type CloseAction, closeAction, ERROR_CODES, isErrorCode } from './codes.js';

const closeCodes = Object.entries(CLOSE_CODES);
const errorCodes = Object.entries(ERROR_CODES);

/** The action our own close codes (4000–4299) must have, by range. */
function rangeAction(code: number): CloseAction | undefined {
  if (code >= 4000 && code <= 4099) return 'stop';
  if (code >= 4100 && code <= 4199) return 'refresh-token';
  if (code >= 4200 && code <= 4299) return 'reconnect';
  return undefined;
}

describe('close codes', () => {
  it('every close code is unique', () => {
    const codes = closeCodes.map(([, info]) => info.code);
    expect(new Set(codes).size).toBe(codes.length);
  });

  it('every close code is one a server may send in a close frame', () => {
    // RFC 6455 §7.4: 1004 is reserved, and 1005, 1006 and 1015 must never be sent in a close frame (ws throws on them).
    for (const [name, info] of closeCodes) {
      expect(Number.isInteger(info.code), name).toBe(true);
      const standard = info.code >= 1000 && info.code <= 1014 && ![1004, 1005, 1006].includes(info.code);
      const ours = info.code >= 4000 && info.code <= 4299;
      expect(standard || ours, `${name} (${info.code})`).toBe(true);
    }
  });

  it('our own codes lie in 4000–4299 with the action of their range', () => {
    const ours = closeCodes.filter(([, info]) => info.code >= 3000);
    expect(ours.length).toBeGreaterThan(0);
    for (const [name, info] of ours) {
      expect(rangeAction(info.code), `${name} (${info.code})`).toBe(info.action);
    }
  });

  it('closeAction returns the listed action for every listed code', () => {
    for (const [name, info] of closeCodes) expect(closeAction(info.code), name).toBe(info.action);
  });

  it('the standard codes have the actions documented for them', () => {
    expect(closeAction(1000)).toBe('stop');
    expect(closeAction(1001)).toBe('reconnect');
    expect(closeAction(1009)).toBe('stop');
    expect(closeAction(1011)).toBe('reconnect');
    expect(closeAction(1006)).toBe('reconnect'); // abnormal closure, seen by clients only
    // The client broke the WebSocket protocol: reconnecting would only break it again.
    for (const code of [1002, 1003, 1007, 1008, 1010]) expect(closeAction(code), String(code)).toBe('stop');
    expect(closeAction(1012)).toBe('reconnect');
  });

  it.each([
    [4098, 'stop'],
    [4002, 'stop'],
    [4050, 'stop'],
    [4099, 'stop'],
    [4100, 'refresh-token'],
    [4102, 'refresh-token'],
    [4150, 'refresh-token'],
    [4199, 'refresh-token'],
    [4204, 'reconnect'],
    [4250, 'reconnect'],
    [4299, 'reconnect'],
    [4300, 'reconnect'],
    [4999, 'reconnect'],
    [3999, 'reconnect'],
    [3000, 'reconnect'],
    [1005, 'reconnect'],
    [1012, 'reconnect'],
    [0, 'reconnect'],
    [-1, 'reconnect'],
    [Number.NaN, 'reconnect'],
  ] as const)('unknown code %d → %s (by range)', (code, action) => {
    expect(Object.values(CLOSE_CODES).some((info) => info.code === code)).toBe(false);
    expect(closeAction(code)).toBe(action);
  });

  it('every close code has a non-empty description and a known action', () => {
    for (const [name, info] of closeCodes) {
      expect(info.description.trim().length, name).toBeGreaterThan(0);
      expect(['stop', 'reconnect', 'refresh-token'], name).toContain(info.action);
    }
  });
});

describe('error codes', () => {
  it('every error code has a non-empty description, a known category and a boolean retryable', () => {
    expect(errorCodes.length).toBeGreaterThan(0);
    for (const [name, info] of errorCodes) {
      expect(name).toMatch(/^[A-Z][A-Z_]*$/);
      expect(typeof info.description, name).toBe('string');
      expect(info.description.trim().length, name).toBeGreaterThan(0);
      expect(['request', 'auth', 'access', 'flow', 'server'], name).toContain(info.category);
      expect(typeof info.retryable, name).toBe('boolean');
    }
  });

  it('retryable agrees with the category where the category decides it', () => {
    // 'request': sending it again unchanged gets the same answer; 'flow' and 'server': it may succeed later.
    for (const [name, info] of errorCodes) {
      if (info.category === 'request') expect(info.retryable, name).toBe(false);
      if (info.category === 'flow' || info.category === 'server') expect(info.retryable, name).toBe(true);
    }
  });

  it('the codes validation produces exist', () => {
    for (const code of ['BAD_FRAME', 'UNKNOWN_TYPE', 'INVALID_FIELD', 'TEXT_TOO_LONG', 'FRAME_TOO_LARGE']) {
      expect(isErrorCode(code), code).toBe(true);
    }
  });
});

describe('isErrorCode', () => {
  it('is true for every error code', () => {
    for (const [name] of errorCodes) expect(isErrorCode(name), name).toBe(true);
  });

  it.each([
    '',
    'bad_frame',
    'BAD_FRAME ',
    'NOPE',
    'NORMAL', // a close code name, not an error code
    'toString',
    'constructor',
    '__proto__',
    'hasOwnProperty',
    'valueOf',
  ])('is false for the string %j', (value) => {
    expect(isErrorCode(value)).toBe(false);
  });

  it.each([undefined, null, 0, 1, true, {}, [], ['BAD_FRAME'], new String('BAD_FRAME'), Symbol('BAD_FRAME')])(
    'is false for non-string value #%#',
    (value) => {
      expect(isErrorCode(value)).toBe(false);
    },
  );
});
