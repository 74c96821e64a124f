/**
 * A risk data file (the phrase list, the crisis resources) is missing or invalid. Thrown at load, which happens at
 * boot: the server must not start with a screen that silently misses what it was configured to catch. The message
 * names the file, the entry and what is wrong; it never contains patient text (the files hold none).
 */
export class RiskDataError extends Error {
  override readonly name = 'RiskDataError';
}
