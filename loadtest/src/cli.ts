#!/usr/bin/env node
/**
 * `npm run loadtest -- <scenario> [options]`: see USAGE in options.ts and loadtest/README.md.
 * Also `verify <events.ndjson>` (check a recorded or synthetic event stream) and `profile <file.cpuprofile>`.
 */
import fs from 'node:fs';
import { checkEventStream, violations } from './checker.js';
import { parseOptions, USAGE, UsageError } from './options.js';
import { profilesText, profileText, summarizeProfile } from './profile.js';
import { writeReports, summaryText } from './report.js';
import { run } from './run.js';

const EXIT_USAGE = 64;

function verify(files: string[]): number {
  if (files.length === 0) throw new UsageError('verify needs one or more event files (NDJSON)');
  const text = files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  const r = checkEventStream(text);
  process.stdout.write(
    `${r.conversations} conversations, ${r.participants} participants, ${r.acked} acknowledged messages, ${r.received} msg frames received\n` +
      `lost ${r.lost}, duplicated ${r.duplicated}, out of order ${r.outOfOrder}, mismatched ${r.mismatched}, ack conflicts ${r.ackConflicts}\n` +
      r.examples.map((e) => `  e.g. ${e}\n`).join(''),
  );
  const bad = violations(r);
  process.stdout.write(bad > 0 ? `FAIL: ${bad} violations\n` : 'PASS\n');
  return bad > 0 ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return argv.length === 0 ? EXIT_USAGE : 0;
  }
  if (argv[0] === 'verify') return verify(argv.slice(1));
  if (argv[0] === 'profile') {
    for (const f of argv.slice(1)) process.stdout.write(`${profileText(f, summarizeProfile(f))}\n\n`);
    return 0;
  }
  const opts = parseOptions(argv);
  const log = (line: string) => process.stderr.write(`${opts.progress ? '\r\x1b[2K' : ''}loadtest: ${line}\n`);
  let stopping = false;
  process.on('SIGINT', () => {
    if (stopping) process.exit(130);
    stopping = true;
    log('interrupted: Ctrl-C again to quit at once');
  });
  const result = await run(opts, log);
  process.stdout.write(`\n${summaryText(result)}\n`);
  if (opts.reports) {
    const files = writeReports(result, opts.outDir);
    process.stdout.write(`results: ${files.json}\n         ${files.html}\n`);
  }
  process.stdout.write(profilesText(result));
  return result.exitCode;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Child processes and sockets are closed; make sure a stray timer does not keep us.
    setTimeout(() => process.exit(code), 500).unref();
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`loadtest: ${err.message}\n\n${USAGE}\n`);
      process.exit(EXIT_USAGE);
    }
    process.stderr.write(`loadtest: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(2);
  },
);
