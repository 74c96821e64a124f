import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // Tests run against the sources; the built `dist/` is only for processes the tests spawn.
    alias: {
      '@therapy-chat/protocol': fileURLToPath(new URL('./protocol/src/index.ts', import.meta.url)),
    },
  },
  test: {
    include: ['**/src/**/*.test.ts', '**/test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    pool: 'forks',
  },
});
