/** Where things are, from both `src/` (tests) and `dist/` (the built CLI): both sit one level below `loadtest/`. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const LOADTEST_ROOT = fileURLToPath(new URL('../', import.meta.url));
export const REPO_ROOT = path.resolve(LOADTEST_ROOT, '..');
/** The built server: the load tool starts it as a child process and seeds through its modules. */
export const SERVER_DIST = path.join(REPO_ROOT, 'server', 'dist');
export const RESULTS_DIR = path.join(LOADTEST_ROOT, 'results');
/** A built entry of this package (`dist/<name>.js`), for child processes. */
export function loadtestEntry(name: string): string {
  return path.join(LOADTEST_ROOT, 'dist', `${name}.js`);
}
