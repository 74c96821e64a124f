/**
 * Entry of a generator worker process: the coordinator forks it, sends it its plan over IPC, then `go`, `stop` and
 * `exit`. See generator.ts for what it does.
 */
import { Generator } from './generator.js';
import type { FromWorker, ToWorker } from './plan.js';

let gen: Generator | undefined;
const send = (m: FromWorker) => process.send?.(m);
process.on('uncaughtException', (err) => {
  send({ type: 'failed', worker: -1, error: err.stack ?? String(err) });
  setTimeout(() => process.exit(2), 100);
});
// The coordinator is gone: nothing more to report to.
process.on('disconnect', () => process.exit(0));
process.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'plan':
      gen = new Generator(m.plan, send);
      gen.start();
      return;
    case 'go':
      gen?.go(m.at);
      return;
    case 'stop':
      gen?.stop(m.drainMs);
      return;
    case 'exit':
      setTimeout(() => process.exit(0), 50);
      return;
  }
});
