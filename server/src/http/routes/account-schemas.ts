/** JSON schemas shared by the account routes. */

/** Identity fields (DESIGN §1): sealed at rest, shown only to the person and to admins. */
export const IDENTITY_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    dateOfBirth: { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])$' },
    email: { type: 'string', minLength: 3, maxLength: 254 },
    phone: { type: 'string', minLength: 3, maxLength: 32 },
    nhsNumber: { type: 'string', pattern: '^\\d{3} ?\\d{3} ?\\d{4}$' },
    gp: { type: 'string', minLength: 1, maxLength: 200 },
  },
} as const;

/** An account as the admin API shows it (no password hash, ever). */
export const ACCOUNT_SCHEMA = {
  type: 'object',
  required: ['id', 'role', 'status', 'login', 'externalSubject', 'createdAt', 'disabledAt'],
  properties: {
    id: { type: 'string' },
    role: { type: 'string', enum: ['patient', 'therapist', 'supervisor', 'admin'] },
    status: { type: 'string', enum: ['active', 'disabled'] },
    login: { type: ['string', 'null'] },
    externalSubject: { type: ['string', 'null'] },
    createdAt: { type: 'string', format: 'date-time' },
    disabledAt: { type: ['string', 'null'], format: 'date-time' },
  },
} as const;
