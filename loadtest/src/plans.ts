/**
 * From options and seeded people to one plan per generator worker. Every member of a conversation lands in the same
 * worker, so that a message's send and its receipts are timed on one clock and checked by one checker.
 */
import type { Role } from '@therapy-chat/protocol';
import type { Options } from './options.js';
import type { ConvPlan, UserPlan, WorkerPlan } from './plan.js';
import type { SeededSession } from './seed.js';

export type Mint = (userId: string, role: Role) => Promise<string> | string;

interface Draft {
  users: Omit<UserPlan, 'idx'>[];
  convs: ConvPlan[];
  slowUsers: number[];
}

function emptyDrafts(n: number): Draft[] {
  return Array.from({ length: n }, () => ({ users: [], convs: [], slowUsers: [] }));
}

export interface Plans {
  readonly plans: WorkerPlan[];
  /** Connections the plan opens, in total. */
  readonly connections: number;
  /** The most frames per second one connection sends (messages and typing indicators). */
  readonly maxFramesPerConnection: number;
  readonly slowSessions: number;
}

export async function buildPlans(
  opts: Options,
  sessions: readonly SeededSession[],
  mint: Mint,
  urls: readonly string[],
  hardLimitMs: number,
): Promise<Plans> {
  const drafts = emptyDrafts(opts.workers);
  const n = urls.length;
  let urlCursor = 0;
  const nextUrl = () => urlCursor++ % n;
  let maxFrames = 0;
  let slowSessions = 0;
  const w = opts.workload;

  if (w === 'sessions' || w === 'reconnect-storm' || w === 'slow-consumers') {
    const perSender = opts.rate / (2 * sessions.length);
    const slowCount = w === 'slow-consumers' ? Math.round((sessions.length * opts.slowPercent) / 100) : 0;
    slowSessions = slowCount;
    for (let i = 0; i < sessions.length; i++) {
      const s = sessions[i]!;
      const d = drafts[i % opts.workers]!;
      const slow = i < slowCount;
      const conv: ConvPlan = slow
        ? { id: s.conv, rate: opts.slowRate, textLength: opts.slowText }
        : { id: s.conv, rate: perSender, textLength: opts.text };
      maxFrames = Math.max(maxFrames, conv.rate * (1 + opts.typing));
      d.convs.push(conv);
      d.users.push({
        id: s.therapistId,
        role: 'therapist',
        token: await mint(s.therapistId, 'therapist'),
        convs: [s.conv],
        url: nextUrl(),
        sends: true,
        group: 'normal',
      });
      if (slow) d.slowUsers.push(d.users.length);
      d.users.push({
        id: s.patientId,
        role: 'patient',
        token: await mint(s.patientId, 'patient'),
        convs: [s.conv],
        url: nextUrl(),
        sends: true,
        group: slow ? 'slow' : 'normal',
      });
    }
  } else if (w === 'messages') {
    // Therapists with a caseload: each joins the threads of its patients; each patient joins its own thread.
    const perSender = opts.rate / (2 * sessions.length);
    const byTherapist = new Map<string, SeededSession[]>();
    for (const s of sessions) byTherapist.set(s.therapistId, [...(byTherapist.get(s.therapistId) ?? []), s]);
    let g = 0;
    for (const [therapistId, cases] of byTherapist) {
      const d = drafts[g++ % opts.workers]!;
      for (const c of cases) d.convs.push({ id: c.threadId, rate: perSender, textLength: opts.text });
      maxFrames = Math.max(maxFrames, perSender * cases.length * (1 + opts.typing));
      d.users.push({
        id: therapistId,
        role: 'therapist',
        token: await mint(therapistId, 'therapist'),
        convs: cases.map((c) => c.threadId),
        url: nextUrl(),
        sends: true,
        group: 'normal',
      });
      for (const c of cases) {
        d.users.push({
          id: c.patientId,
          role: 'patient',
          token: await mint(c.patientId, 'patient'),
          convs: [c.threadId],
          url: nextUrl(),
          sends: true,
          group: 'normal',
        });
      }
    }
  } else {
    // connect: idle connections, two per session (patient and therapist), joined to the appointment or not.
    let made = 0;
    for (let i = 0; made < opts.connections; i++) {
      const s = sessions[i]!;
      const d = drafts[i % opts.workers]!;
      if (opts.join) d.convs.push({ id: s.conv, rate: 0, textLength: 1 });
      for (const [id, role] of [
        [s.therapistId, 'therapist'],
        [s.patientId, 'patient'],
      ] as const) {
        if (made++ >= opts.connections) break;
        d.users.push({
          id,
          role,
          token: await mint(id, role),
          convs: opts.join ? [s.conv] : [],
          url: nextUrl(),
          sends: false,
          group: 'normal',
        });
      }
    }
  }

  const plans = drafts.map((d, worker): WorkerPlan => ({
    worker,
    urls,
    users: d.users.map((u, idx) => ({ ...u, idx })),
    convs: d.convs,
    typing: w === 'connect' ? 0 : opts.typing,
    connectRate: opts.connectRate / opts.workers,
    maxInflight: opts.maxInflight,
    reconnectJitterMs: w === 'reconnect-storm' ? 1000 : 250,
    reconnectMaxDelayMs: 5000,
    ackTimeoutMs: 10_000,
    slow:
      d.slowUsers.length > 0
        ? { users: d.slowUsers, atMs: opts.warmupS * 1000 + 1000, forMs: opts.stallS * 1000 }
        : undefined,
    eventsFile: opts.eventsFile ? `${opts.eventsFile}${opts.workers > 1 ? `.${worker}` : ''}` : undefined,
    hardLimitMs,
  }));
  return {
    plans: plans.filter((p) => p.users.length > 0),
    connections: drafts.reduce((a, d) => a + d.users.length, 0),
    maxFramesPerConnection: maxFrames,
    slowSessions,
  };
}
