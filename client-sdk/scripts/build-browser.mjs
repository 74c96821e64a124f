// Bundles the browser entry point into one ES module with no Node built-ins: dist/browser/therapy-chat.js.
// `platform: 'browser'` makes esbuild pick msgpackr's browser build and refuse any `node:` import.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

await build({
  entryPoints: [`${root}src/browser.ts`],
  outfile: `${root}dist/browser/therapy-chat.js`,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  sourcemap: true,
  minify: false,
  legalComments: 'eof',
  logLevel: 'warning',
});
