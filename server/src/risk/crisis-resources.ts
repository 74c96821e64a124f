/**
 * The crisis resources a patient is shown when a message of theirs is a risk hit: what to do in immediate danger,
 * and whom to call or text. Operators set them for their service and country in a JSON file named by
 * `CRISIS_RESOURCES_FILE`; without one, a generic default is used whose numbers are placeholders, and the server
 * should warn loudly at boot (see `containsPlaceholder`).
 *
 * ```json
 * {
 *   "version": 1,
 *   "heading": "You don't have to face this alone",
 *   "body": "If you are in immediate danger, call your local emergency number now.",
 *   "contacts": [
 *     { "name": "Emergency services", "contact": "Call <emergency number>", "availability": "24 hours" }
 *   ]
 * }
 * ```
 */
import fs from 'node:fs';
import path from 'node:path';
import { RiskDataError } from './risk-data-error.js';

export interface CrisisContact {
  /** Who they are, e.g. "Emergency services", "Samaritans-style listening line". */
  readonly name: string;
  /** How to reach them, as the patient should read it, e.g. "Call <number>" or "Text <keyword> to <number>". */
  readonly contact: string;
  /** When they answer, e.g. "24 hours, every day". */
  readonly availability?: string;
}

export interface CrisisResources {
  readonly heading: string;
  readonly body: string;
  readonly contacts: readonly CrisisContact[];
}

/** The environment variable naming the crisis resources file. Unset or empty: the default, with placeholders. */
export const CRISIS_RESOURCES_ENV = 'CRISIS_RESOURCES_FILE';

/** Marks text an operator must replace. A file with a placeholder left in it is refused at load. */
export const PLACEHOLDER_MARK = '[SET BY OPERATOR:';

export const MAX_HEADING_CHARS = 200;
export const MAX_BODY_CHARS = 2000;
export const MAX_CONTACT_FIELD_CHARS = 200;
export const MAX_CONTACTS = 20;

/**
 * Generic, safe wherever it is shown, and with no real numbers: emergency and helpline numbers differ by country and
 * change, so they are set by the operator, never guessed here.
 */
export const DEFAULT_CRISIS_RESOURCES: CrisisResources = deepFreeze({
  heading: 'You do not have to face this alone',
  body:
    'If you are in immediate danger or might act on thoughts of harming yourself or someone else, call your local ' +
    'emergency number now, or go to your nearest emergency department. Your therapist has been told about your ' +
    'message, but they may not see it straight away, so please also contact one of the services below.',
  contacts: [
    {
      name: 'Emergency services',
      contact: `Call ${PLACEHOLDER_MARK} local emergency number]`,
      availability: '24 hours, every day',
    },
    {
      name: 'Crisis helpline',
      contact: `Call ${PLACEHOLDER_MARK} crisis helpline number]`,
      availability: `${PLACEHOLDER_MARK} helpline opening hours]`,
    },
    {
      name: 'Crisis text line',
      contact: `Text ${PLACEHOLDER_MARK} keyword] to ${PLACEHOLDER_MARK} text line number]`,
    },
  ],
});

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Whether any text still holds an operator placeholder: true for the default. Log a warning at boot when it is. */
export function containsPlaceholder(resources: CrisisResources): boolean {
  const texts = [resources.heading, resources.body];
  for (const c of resources.contacts) texts.push(c.name, c.contact, c.availability ?? '');
  return texts.some((t) => t.includes(PLACEHOLDER_MARK));
}

const TOP_KEYS: ReadonlySet<string> = new Set(['version', 'heading', 'body', 'contacts']);
const CONTACT_KEYS: ReadonlySet<string> = new Set(['name', 'contact', 'availability']);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates parsed crisis resources; `source` names them in errors. Refuses unknown keys, empty or over-long text,
 * no contacts, and placeholders left in (a file is the operator's statement that the numbers are set).
 * @throws RiskDataError
 */
export function parseCrisisResources(data: unknown, source: string): CrisisResources {
  const fail = (what: string): never => {
    throw new RiskDataError(`crisis resources ${source}: ${what}`);
  };
  const text = (value: unknown, where: string, max: number): string => {
    if (typeof value !== 'string' || value.trim() === '') return fail(`${where} must be a non-empty string`);
    if (value.length > max) fail(`${where} is longer than ${max} characters`);
    if (value.includes(PLACEHOLDER_MARK)) fail(`${where} still holds a placeholder "${PLACEHOLDER_MARK} …]"`);
    return value;
  };
  if (!isRecord(data)) return fail('expected a JSON object with version, heading, body and contacts');
  for (const key of Object.keys(data)) if (!TOP_KEYS.has(key)) fail(`unknown key ${JSON.stringify(key)}`);
  if (data.version !== 1) fail(`version must be 1 (got ${JSON.stringify(data.version)})`);
  const heading = text(data.heading, 'heading', MAX_HEADING_CHARS);
  const body = text(data.body, 'body', MAX_BODY_CHARS);
  const contacts = data.contacts;
  if (!Array.isArray(contacts) || contacts.length === 0 || contacts.length > MAX_CONTACTS) {
    return fail(`contacts must be an array of 1 to ${MAX_CONTACTS} contacts`);
  }
  const parsed = contacts.map((c: unknown, i): CrisisContact => {
    const where = `contacts[${i}]`;
    if (!isRecord(c)) return fail(`${where} must be an object with name and contact`);
    for (const key of Object.keys(c)) if (!CONTACT_KEYS.has(key)) fail(`${where}: unknown key ${JSON.stringify(key)}`);
    const name = text(c.name, `${where}.name`, MAX_CONTACT_FIELD_CHARS);
    const contact = text(c.contact, `${where}.contact`, MAX_CONTACT_FIELD_CHARS);
    if (c.availability === undefined) return { name, contact };
    return { name, contact, availability: text(c.availability, `${where}.availability`, MAX_CONTACT_FIELD_CHARS) };
  });
  return deepFreeze({ heading, body, contacts: parsed });
}

/**
 * Reads and validates a crisis resources file.
 * @throws RiskDataError when it cannot be read, is not JSON or is invalid.
 */
export function readCrisisResources(file: string): CrisisResources {
  let raw: string;
  try {
    raw = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new RiskDataError(
      `crisis resources ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let data: unknown;
  try {
    data = JSON.parse(raw);
  } catch (err) {
    throw new RiskDataError(`crisis resources ${file}: not valid JSON (${(err as Error).message})`);
  }
  return parseCrisisResources(data, file);
}

/**
 * The crisis resources for this process: from the file named by `CRISIS_RESOURCES_FILE` (a relative path is taken
 * from the working directory), else `DEFAULT_CRISIS_RESOURCES`.
 * @throws RiskDataError naming the variable when the file is unreadable or invalid.
 */
export function loadCrisisResources(env: Readonly<Record<string, string | undefined>> = process.env): CrisisResources {
  const file = env[CRISIS_RESOURCES_ENV];
  if (file === undefined || file === '') return DEFAULT_CRISIS_RESOURCES;
  try {
    return readCrisisResources(path.resolve(file));
  } catch (err) {
    if (err instanceof RiskDataError) throw new RiskDataError(`${CRISIS_RESOURCES_ENV}: ${err.message}`);
    throw err;
  }
}

/** Plain text for a client that shows text only (a system message, a terminal). */
export function formatCrisisResources(resources: CrisisResources): string {
  const lines = [resources.heading, '', resources.body, ''];
  for (const c of resources.contacts) {
    lines.push(`- ${c.name}: ${c.contact}${c.availability === undefined ? '' : ` (${c.availability})`}`);
  }
  return lines.join('\n');
}
