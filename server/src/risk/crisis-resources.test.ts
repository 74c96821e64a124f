import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CRISIS_RESOURCES_ENV,
  DEFAULT_CRISIS_RESOURCES,
  MAX_BODY_CHARS,
  MAX_CONTACTS,
  PLACEHOLDER_MARK,
  containsPlaceholder,
  formatCrisisResources,
  loadCrisisResources,
  parseCrisisResources,
} from './crisis-resources.js';
import { RiskDataError } from './risk-data-error.js';

type Json = Record<string, unknown>;

const contact = (over: Json = {}): Json => ({ name: 'Emergency services', contact: 'Call 555-0100', ...over });
const valid = (over: Json = {}): Json => ({
  version: 1,
  heading: 'You are not alone',
  body: 'If you are in danger, call the emergency number.',
  contacts: [contact(), contact({ name: 'Helpline', contact: 'Call 555-0199', availability: '24 hours' })],
  ...over,
});

describe('DEFAULT_CRISIS_RESOURCES', () => {
  it('tells the patient what to do in immediate danger', () => {
    expect(DEFAULT_CRISIS_RESOURCES.body).toMatch(/immediate danger.*local emergency number/);
    expect(DEFAULT_CRISIS_RESOURCES.contacts.length).toBeGreaterThanOrEqual(2);
  });

  it('has placeholders, not invented numbers', () => {
    expect(containsPlaceholder(DEFAULT_CRISIS_RESOURCES)).toBe(true);
    for (const c of DEFAULT_CRISIS_RESOURCES.contacts) {
      expect(c.contact).toContain(PLACEHOLDER_MARK);
      expect(c.contact).not.toMatch(/\d/);
    }
  });

  it('is frozen, contacts included', () => {
    expect(Object.isFrozen(DEFAULT_CRISIS_RESOURCES)).toBe(true);
    expect(Object.isFrozen(DEFAULT_CRISIS_RESOURCES.contacts)).toBe(true);
    expect(Object.isFrozen(DEFAULT_CRISIS_RESOURCES.contacts[0])).toBe(true);
  });

  it('would be refused as a file: the placeholders must be replaced', () => {
    expect(() => parseCrisisResources({ version: 1, ...DEFAULT_CRISIS_RESOURCES }, 'copy.json')).toThrow(
      /copy\.json: contacts\[0\]\.contact still holds a placeholder/,
    );
  });
});

describe('parseCrisisResources', () => {
  it('accepts a valid file without placeholders', () => {
    const parsed = parseCrisisResources(valid(), 'x.json');
    expect(parsed).toEqual({
      heading: 'You are not alone',
      body: 'If you are in danger, call the emergency number.',
      contacts: [
        { name: 'Emergency services', contact: 'Call 555-0100' },
        { name: 'Helpline', contact: 'Call 555-0199', availability: '24 hours' },
      ],
    });
    expect(containsPlaceholder(parsed)).toBe(false);
    expect(Object.isFrozen(parsed.contacts[1])).toBe(true);
  });

  const invalid: [string, unknown, RegExp][] = [
    ['not an object', 'help', /^crisis resources x\.json: expected a JSON object/],
    ['an array', [], /expected a JSON object/],
    ['unknown key', valid({ title: 'x' }), /unknown key "title"/],
    ['wrong version', valid({ version: 2 }), /version must be 1 \(got 2\)/],
    ['missing version', valid({ version: undefined }), /version must be 1/],
    ['empty heading', valid({ heading: '  ' }), /heading must be a non-empty string/],
    ['heading not a string', valid({ heading: 5 }), /heading must be a non-empty string/],
    ['body too long', valid({ body: 'x'.repeat(MAX_BODY_CHARS + 1) }), /body is longer than 2000 characters/],
    ['placeholder in the body', valid({ body: `Call ${PLACEHOLDER_MARK} number]` }), /body still holds a placeholder/],
    ['no contacts', valid({ contacts: [] }), /contacts must be an array of 1 to 20/],
    ['contacts not an array', valid({ contacts: contact() }), /contacts must be an array/],
    [
      'too many contacts',
      valid({ contacts: Array.from({ length: MAX_CONTACTS + 1 }, () => contact()) }),
      /contacts must be an array of 1 to 20/,
    ],
    ['contact not an object', valid({ contacts: ['999'] }), /contacts\[0\] must be an object/],
    ['contact without a name', valid({ contacts: [contact({ name: undefined })] }), /contacts\[0\]\.name must be/],
    [
      'contact without contact',
      valid({ contacts: [contact(), contact({ contact: '' })] }),
      /contacts\[1\]\.contact must be/,
    ],
    ['unknown contact key', valid({ contacts: [contact({ phone: '1' })] }), /contacts\[0\]: unknown key "phone"/],
    ['empty availability', valid({ contacts: [contact({ availability: '' })] }), /contacts\[0\]\.availability must be/],
    [
      'placeholder in a contact',
      valid({ contacts: [contact({ contact: `Call ${PLACEHOLDER_MARK} helpline]` })] }),
      /contacts\[0\]\.contact still holds a placeholder/,
    ],
  ];
  it.each(invalid)('refuses %s', (_what, data, message) => {
    let error: unknown;
    try {
      parseCrisisResources(data, 'x.json');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RiskDataError);
    expect((error as Error).message).toMatch(message);
  });
});

describe('loadCrisisResources', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crisis-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('uses the default when the variable is unset or empty', () => {
    expect(CRISIS_RESOURCES_ENV).toBe('CRISIS_RESOURCES_FILE');
    expect(loadCrisisResources({})).toBe(DEFAULT_CRISIS_RESOURCES);
    expect(loadCrisisResources({ CRISIS_RESOURCES_FILE: '' })).toBe(DEFAULT_CRISIS_RESOURCES);
  });

  it('reads the file the variable names', () => {
    const file = path.join(dir, 'ok.json');
    fs.writeFileSync(file, JSON.stringify(valid({ heading: 'From the file' })));
    const loaded = loadCrisisResources({ CRISIS_RESOURCES_FILE: file });
    expect(loaded.heading).toBe('From the file');
    expect(containsPlaceholder(loaded)).toBe(false);
  });

  it('takes a relative path from the working directory', () => {
    const file = path.join(dir, 'relative.json');
    fs.writeFileSync(file, JSON.stringify(valid({ heading: 'Relative' })));
    const relative = path.relative(process.cwd(), file);
    expect(path.isAbsolute(relative)).toBe(false);
    expect(loadCrisisResources({ CRISIS_RESOURCES_FILE: relative }).heading).toBe('Relative');
  });

  it('names the variable and the file when the file is missing', () => {
    const file = path.join(dir, 'missing.json');
    expect(() => loadCrisisResources({ CRISIS_RESOURCES_FILE: file })).toThrow(
      new RiskDataError(`CRISIS_RESOURCES_FILE: crisis resources ${file}: cannot read it (ENOENT)`),
    );
  });

  it('names the variable and the file when the file is not JSON', () => {
    const file = path.join(dir, 'broken.json');
    fs.writeFileSync(file, '{ heading: nope }');
    expect(() => loadCrisisResources({ CRISIS_RESOURCES_FILE: file })).toThrow(
      /^CRISIS_RESOURCES_FILE: crisis resources .*broken\.json: not valid JSON/,
    );
  });

  it('names the variable, the file and the field when the file is invalid', () => {
    const file = path.join(dir, 'invalid.json');
    fs.writeFileSync(file, JSON.stringify(valid({ contacts: [contact({ contact: ' ' })] })));
    expect(() => loadCrisisResources({ CRISIS_RESOURCES_FILE: file })).toThrow(
      /^CRISIS_RESOURCES_FILE: crisis resources .*invalid\.json: contacts\[0\]\.contact must be a non-empty string$/,
    );
  });
});

describe('formatCrisisResources', () => {
  it('renders heading, body and one line per contact', () => {
    expect(formatCrisisResources(parseCrisisResources(valid(), 'x'))).toBe(
      [
        'You are not alone',
        '',
        'If you are in danger, call the emergency number.',
        '',
        '- Emergency services: Call 555-0100',
        '- Helpline: Call 555-0199 (24 hours)',
      ].join('\n'),
    );
  });
});
