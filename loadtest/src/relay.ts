/**
 * The bare relay: the floor of any Node WebSocket chat server, for `npm run bench` to compare ours against. Same
 * transport (`ws`, no compression), same frames, same codec and the same frame validation (`protocol/`) as the
 * server, same encode-once fan-out and outbound byte cap; but no persistence (seqs and the replay log live in memory),
 * no crypto (tokens are read, not verified; nothing is encrypted), no access policy, no rate limit, no metrics library.
 *
 * Run as a child process: `node dist/relay.js` with PORT and HOST. Serves `/ws`, `/healthz`, and `/metrics` with the
 * few Prometheus series the load tool reads (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
 * `tc_connections`).
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  codecFor,
  DEFAULT_LIMITS,
  isSubprotocol,
  type MessageFrame,
  negotiateSubprotocol,
  type Role,
  type Subprotocol,
  validateClientFrame,
} from '@therapy-chat/protocol';

const MAX_OUTBOUND_BYTES = 1024 * 1024;
const limits = { ...DEFAULT_LIMITS, framesPerSecond: 1_000_000, frameBurst: 1_000_000 };

/** A frame encoded at most once per codec. */
class Out {
  private msgpack: Uint8Array | string | undefined;
  private json: Uint8Array | string | undefined;
  constructor(readonly frame: object) {}
  encoded(p: Subprotocol): Uint8Array | string {
    if (p === 'therapy-chat.v1.msgpack') return (this.msgpack ??= codecFor(p).encode(this.frame));
    return (this.json ??= codecFor(p).encode(this.frame));
  }
}

interface Conn {
  readonly ws: WebSocket;
  readonly subprotocol: Subprotocol;
  user: string | undefined;
  role: Role | undefined;
  readonly joined: Set<string>;
  /** The TCP socket, for corking (`RELAY_CORK=1`). */
  readonly socket?: Duplex;
}

interface Room {
  readonly members: Set<Conn>;
  /** In memory only: the replay log and the idempotency map. */
  readonly log: Out[];
  readonly byClientMsgId: Map<string, { seq: number; ts: number; text: string }>;
}

const rooms = new Map<string, Room>();
let connections = 0;

function room(conv: string): Room {
  let r = rooms.get(conv);
  if (!r) {
    r = { members: new Set(), log: [], byClientMsgId: new Map() };
    rooms.set(conv, r);
  }
  return r;
}

/**
 * `RELAY_CORK=1`: cork each socket for the rest of the tick on its first write, as the server's transport does, so
 * the frames a connection gets in one tick leave in one `writev`. Off by default: the bench's floor is the plain
 * `ws` server; on, it shows how much of the server's gain the relay would get from the same trick.
 */
const CORK = process.env.RELAY_CORK === '1';
const corked = new Set<Conn>();

function uncorkAll(): void {
  for (const c of corked) c.socket?.uncork();
  corked.clear();
}

function write(c: Conn, frame: Out): void {
  const data = frame.encoded(c.subprotocol);
  if (c.ws.bufferedAmount + (typeof data === 'string' ? data.length * 3 : data.byteLength) > MAX_OUTBOUND_BYTES) {
    c.ws.close(4200, 'slow consumer');
    return;
  }
  if (CORK && c.socket && !corked.has(c)) {
    c.socket.cork();
    if (corked.add(c).size === 1) process.nextTick(uncorkAll);
  }
  c.ws.send(data);
}

function reply(c: Conn, frame: object): void {
  write(c, new Out(frame));
}

function claims(token: string): { sub: string; role: Role } | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      sub?: unknown;
      role?: unknown;
    };
    if (typeof payload.sub !== 'string' || typeof payload.role !== 'string') return undefined;
    return { sub: payload.sub, role: payload.role as Role };
  } catch {
    return undefined;
  }
}

function presence(conv: string, r: Room): void {
  const members = [...r.members].map((m) => ({ user: m.user!, role: m.role! }));
  const frame = new Out({ type: 'presence', conv, members });
  for (const m of r.members) write(m, frame);
}

function onFrame(c: Conn, data: Uint8Array | string): void {
  let decoded: unknown;
  try {
    decoded = codecFor(c.subprotocol).decode(data);
  } catch (err) {
    return reply(c, { type: 'error', code: 'BAD_FRAME', message: (err as Error).message });
  }
  const result = validateClientFrame(decoded, limits);
  if (!result.ok) return reply(c, { type: 'error', code: result.code, message: result.message });
  const f = result.frame;
  if (f.type !== 'auth' && f.type !== 'ping' && f.type !== 'pong' && !c.user) return c.ws.close(4001, 'auth first');
  switch (f.type) {
    case 'auth': {
      const cl = claims(f.token);
      if (!cl) return reply(c, { type: 'error', code: 'INVALID_TOKEN', message: 'unreadable token' });
      c.user = cl.sub;
      c.role = cl.role;
      return reply(c, {
        type: 'welcome',
        ...(f.id !== undefined && { id: f.id }),
        user: cl.sub,
        role: cl.role,
        connectionId: `c_${connections}`,
        expiresAt: Date.now() + 3_600_000,
        heartbeatMs: 25_000,
        limits,
        serverTime: Date.now(),
      });
    }
    case 'join': {
      const r = room(f.conv);
      r.members.add(c);
      c.joined.add(f.conv);
      const since = f.since ?? r.log.length;
      if (since > r.log.length) {
        return reply(c, { type: 'error', id: f.id, conv: f.conv, code: 'INVALID_FIELD', message: 'since too far' });
      }
      reply(c, { type: 'joined', id: f.id, conv: f.conv, lastSeq: r.log.length, closed: false });
      for (let s = since; s < r.log.length; s++) write(c, r.log[s]!);
      return presence(f.conv, r);
    }
    case 'leave': {
      const r = rooms.get(f.conv);
      r?.members.delete(c);
      c.joined.delete(f.conv);
      return reply(c, { type: 'left', id: f.id, conv: f.conv });
    }
    case 'send': {
      const r = rooms.get(f.conv);
      if (!r || !c.joined.has(f.conv)) {
        return reply(c, { type: 'error', id: f.id, conv: f.conv, code: 'NOT_JOINED', message: 'join first' });
      }
      const key = `${c.user} ${f.clientMsgId}`;
      const seen = r.byClientMsgId.get(key);
      if (seen) {
        if (seen.text !== f.text) {
          return reply(c, { type: 'error', id: f.id, conv: f.conv, code: 'CLIENT_MSG_ID_REUSED', message: 'reused' });
        }
        return reply(c, {
          type: 'ack',
          id: f.id,
          conv: f.conv,
          clientMsgId: f.clientMsgId,
          seq: seen.seq,
          ts: seen.ts,
        });
      }
      const seq = r.log.length + 1;
      const ts = Date.now();
      r.byClientMsgId.set(key, { seq, ts, text: f.text });
      const msg: MessageFrame = {
        type: 'msg',
        conv: f.conv,
        seq,
        from: c.user!,
        role: c.role!,
        clientMsgId: f.clientMsgId,
        text: f.text,
        ts,
      };
      const out = new Out(msg);
      r.log.push(out);
      reply(c, { type: 'ack', id: f.id, conv: f.conv, clientMsgId: f.clientMsgId, seq, ts });
      for (const m of r.members) write(m, out);
      return;
    }
    case 'typing': {
      const r = rooms.get(f.conv);
      if (!r) return;
      const out = new Out({ type: 'typing', conv: f.conv, user: c.user, role: c.role, active: f.active });
      for (const m of r.members) if (m !== c && m.ws.bufferedAmount < MAX_OUTBOUND_BYTES / 4) write(m, out);
      return;
    }
    case 'history': {
      const r = rooms.get(f.conv);
      const before = Math.min(f.before ?? Infinity, (r?.log.length ?? 0) + 1);
      const from = Math.max(1, before - (f.limit ?? limits.maxHistoryPage));
      const messages = (r?.log.slice(from - 1, before - 1) ?? []).map((o) => {
        const { type: _t, ...m } = o.frame as MessageFrame;
        return m;
      });
      return reply(c, { type: 'history', id: f.id, conv: f.conv, messages, hasMore: from > 1 });
    }
    case 'ping':
      return reply(c, { type: 'pong', ...(f.id !== undefined && { id: f.id }) });
    case 'pong':
      return;
  }
}

function metrics(): string {
  const cpu = process.cpuUsage();
  return [
    '# TYPE process_cpu_seconds_total counter',
    `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
    '# TYPE process_resident_memory_bytes gauge',
    `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    '# TYPE tc_connections gauge',
    `tc_connections ${connections}`,
    '',
  ].join('\n');
}

const server = http.createServer((req, res) => {
  if (req.url === '/healthz') return res.end('{"status":"ok"}');
  if (req.url === '/metrics') return res.end(metrics());
  res.statusCode = 404;
  res.end();
});
const wss = new WebSocketServer({
  noServer: true,
  maxPayload: 2 * limits.maxFrameBytes,
  perMessageDeflate: false,
  handleProtocols: (offered) => negotiateSubprotocol(offered) ?? false,
});
server.on('upgrade', (req, socket, head) => {
  if ((req.url ?? '').split('?')[0] !== '/ws') return socket.end('HTTP/1.1 404 Not Found\r\n\r\n');
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c: Conn = {
      ws,
      subprotocol: isSubprotocol(ws.protocol) ? ws.protocol : 'therapy-chat.v1.msgpack',
      user: undefined,
      role: undefined,
      joined: new Set(),
      socket,
    };
    connections++;
    ws.on('message', (data: Buffer, isBinary: boolean) => onFrame(c, isBinary ? data : data.toString('utf8')));
    ws.on('error', () => {});
    ws.on('close', () => {
      connections--;
      for (const conv of c.joined) {
        const r = rooms.get(conv);
        if (r?.members.delete(c)) presence(conv, r);
      }
    });
  });
});
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'listening', port, ws: '/ws' })}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    for (const ws of wss.clients) ws.close(1001, 'relay shutting down');
    server.close();
    setTimeout(() => process.exit(0), 100);
  });
}
