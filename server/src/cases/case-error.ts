/** A refusal of a case operation, with the stable code the API answers (`http/api-errors.ts`). */
export type CaseErrorCode = 'NOT_FOUND' | 'CONFLICT' | 'AGE_RULE' | 'VALIDATION_FAILED';

export class CaseError extends Error {
  override readonly name = 'CaseError';
  constructor(
    readonly code: CaseErrorCode,
    message: string,
  ) {
    super(message);
  }
}
