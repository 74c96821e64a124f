/**
 * The error codes of the HTTP API. Every refusal answers `{ "error": CODE, "message": "…" }` with the status below;
 * `docs/api.md` lists them all (a test keeps the two equal). The message is for a developer; the code is stable.
 */
export const API_ERRORS = {
  VALIDATION_FAILED: {
    status: 400,
    description: 'The body, query or path does not match the schema; the message names the field.',
  },
  UNAUTHENTICATED: {
    status: 401,
    description: 'No bearer token, or it is malformed, wrongly signed, expired or revoked.',
  },
  INVALID_CREDENTIALS: {
    status: 401,
    description: 'Login name or password wrong, or the refresh token is unknown, used or expired.',
  },
  FORBIDDEN: { status: 403, description: 'The caller may not do this (role, assignment, time window, restriction).' },
  ACCOUNT_DISABLED: { status: 403, description: 'The account is disabled; an admin can re-enable it.' },
  NOT_FOUND: { status: 404, description: 'No such resource, or none the caller may know of.' },
  CONFLICT: {
    status: 409,
    description:
      'The resource is not in a state that allows this (already discharged, appointment ended, login taken).',
  },
  AGE_RULE: {
    status: 422,
    description:
      "The patient does not meet the contract's age rules (minimum age; under 16 needs a verified referral and guardian consent).",
  },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'The body is larger than the API accepts.' },
  RATE_LIMITED: { status: 429, description: 'Too many attempts; wait the `Retry-After` seconds.' },
  UNAVAILABLE: { status: 503, description: 'The store is unreachable now; retry.' },
  INTERNAL: { status: 500, description: 'An unexpected error; it has been logged.' },
} as const satisfies Record<string, { status: number; description: string }>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** Thrown by a route to refuse with a stable code; the app's error handler turns it into the JSON answer. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly status: number;
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.status = API_ERRORS[code].status;
  }
}

/** The JSON schema of every error answer, for the OpenAPI document. */
export const ERROR_BODY_SCHEMA = {
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: { type: 'string', enum: Object.keys(API_ERRORS) },
    message: { type: 'string' },
  },
} as const;
