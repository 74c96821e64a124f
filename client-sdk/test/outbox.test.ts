import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileOutbox, MemoryOutbox, type Outbox, type OutboxEntry } from '../src/index.js';
import { Clients, record, sleep, startServer, TcpProxy, tempDataDir, waitUntil } from './helpers/sdk-harness.js';

const entry = (n: number, conv = 'conv-a'): OutboxEntry => ({
  conv,
  clientMsgId: `m${n}`,
  text: `text ${n}`,
  createdAt: 1_700_000_000_000 + n,
  order: n,
});

// One contract for every Outbox implementation (IndexedDbOutbox runs the same steps in the browser test).
const implementations: [string, () => Outbox][] = [
  ['MemoryOutbox', () => new MemoryOutbox()],
  ['FileOutbox', () => new FileOutbox(path.join(tempDataDir(), 'sub', 'outbox.json'))],
];

describe.each(implementations)('%s contract', (_name, make) => {
  it('keeps added entries until removed, per conversation and id', async () => {
    const box = make();
    expect(await box.load()).toEqual([]);
    await box.add(entry(1));
    await box.add(entry(2));
    await box.add(entry(1, 'conv-b'));
    await box.remove('conv-a', 'm1');
    await box.remove('conv-a', 'missing'); // a no-op
    const left = await box.load();
    expect(left.map((e) => `${e.conv}/${e.clientMsgId}`).sort()).toEqual(['conv-a/m2', 'conv-b/m1']);
    expect(left.find((e) => e.conv === 'conv-a')).toEqual(entry(2));
    await box.clear();
    expect(await box.load()).toEqual([]);
  });
});

describe('FileOutbox', () => {
  it('survives a new instance on the same file, and ignores garbage in it', async () => {
    const file = path.join(tempDataDir(), 'outbox.json');
    const a = new FileOutbox(file);
    await a.add(entry(1));
    await a.add(entry(2));
    await a.remove('conv-a', 'm1');
    expect(await new FileOutbox(file).load()).toEqual([entry(2)]);
    fs.writeFileSync(file, JSON.stringify([entry(3), { conv: 1 }, 'junk']));
    expect(await new FileOutbox(file).load()).toEqual([entry(3)]);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('a message typed while the server is unreachable', () => {
  const clients = new Clients();
  afterEach(() => clients.closeAll());

  it('survives a restart of the Node process (FileOutbox) and is delivered once when the network is back', async () => {
    const ts = await startServer({ LOG_LEVEL: 'warn' });
    const proxy = await TcpProxy.start(ts.url);
    try {
      const s = await ts.seed();
      const file = path.join(tempDataDir(), 'outbox.json');
      proxy.refuse();

      const before = clients.create({ url: proxy.url, getToken: () => s.patientToken, outbox: new FileOutbox(file) });
      const conv = before.conversation(s.conv);
      const sent = conv.send('written on the train');
      await waitUntil(() => fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes('written on the train'));
      expect(before.state).not.toBe('connected');
      await before.close(); // the process ends
      await expect(sent).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });

      const therapist = clients.create({ url: ts.url, getToken: () => s.therapistToken });
      const tSeen = record(await therapist.join(s.conv));

      proxy.restore();
      const outbox = new FileOutbox(file);
      const after = clients.create({ url: proxy.url, getToken: () => s.patientToken, outbox });
      const own: string[] = [];
      after.on('message', (e) => own.push(`${e.own ? 'own' : 'other'}:${e.message.text}`));
      // The app is told when the outbox has been read and the saved message is back in `pending`.
      const restored: string[][] = [];
      after.on('restored', (e) => restored.push(e.entries.map((entry) => entry.text)));
      const resumed = after.conversation(s.conv);
      await waitUntil(() => tSeen.length === 1, 5_000, 'the therapist to get it');
      await waitUntil(() => resumed.pending.length === 0);
      await sleep(200);
      expect(tSeen.map((m) => [m.seq, m.text, m.from])).toEqual([[1, 'written on the train', s.patientId]]);
      expect(own).toEqual(['own:written on the train']);
      expect(restored).toEqual([['written on the train']]);
      await waitUntil(
        () => !fs.readFileSync(file, 'utf8').includes('written on the train'),
        2_000,
        'the outbox to empty',
      );
      expect(await outbox.load()).toEqual([]);
    } finally {
      await proxy.stop();
      await ts.stop();
    }
  });
});
