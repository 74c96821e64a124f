/**
 * An audit sink in memory, for tests: the same chain, validation and verification as the SQL sink, with its rows in
 * an array that a test may tamper with. Several sinks built on one `MemoryAuditLog` act as several nodes writing to
 * one database.
 */
import { chainAuditContents, GENESIS_HASH } from './audit-chain.js';
import { fromAuditRecord, toAuditContent, type AuditRecord } from './audit-event.js';
import type {
  AuditEvent,
  AuditEventInput,
  AuditHead,
  AuditResource,
  AuditSink,
  AuditVerifyOptions,
  AuditVerifyResult,
} from './audit-sink.js';
import { verifyAuditChain } from './audit-verify.js';

/** The shared state: the stored rows, in storage order, and the head record. Tests may edit both. */
export interface MemoryAuditLog {
  records: AuditRecord[];
  head: AuditHead;
}

export function emptyMemoryAuditLog(): MemoryAuditLog {
  return { records: [], head: { seq: 0, hash: GENESIS_HASH } };
}

export class MemoryAuditSink implements AuditSink {
  private closed = false;

  constructor(readonly log: MemoryAuditLog = emptyMemoryAuditLog()) {}

  private check(): void {
    if (this.closed) throw new Error('MemoryAuditSink is closed');
  }

  async append(events: readonly AuditEventInput[]): Promise<AuditEvent[]> {
    this.check();
    const contents = events.map(toAuditContent);
    const records = chainAuditContents(this.log.head, contents);
    this.log.records.push(...records);
    const last = records.at(-1);
    if (last) this.log.head = { seq: last.seq, hash: last.hash };
    return records.map(fromAuditRecord);
  }

  private async readRecords(fromSeq: number, limit: number): Promise<AuditRecord[]> {
    return this.log.records
      .filter((r) => r.seq >= fromSeq)
      .sort((a, b) => a.seq - b.seq)
      .slice(0, limit)
      .map((r) => ({ ...r }));
  }

  async read(fromSeq: number, limit: number): Promise<AuditEvent[]> {
    this.check();
    return (await this.readRecords(fromSeq, limit)).map(fromAuditRecord);
  }

  async readByResources(resources: readonly AuditResource[], fromSeq: number, limit: number): Promise<AuditEvent[]> {
    this.check();
    const wanted = new Set(resources.map((r) => `${r.type}\u0000${r.id}`));
    return (await this.readRecords(fromSeq, Number.MAX_SAFE_INTEGER))
      .filter((r) => r.resourceType !== null && wanted.has(`${r.resourceType}\u0000${r.resourceId}`))
      .slice(0, limit)
      .map(fromAuditRecord);
  }

  async head(): Promise<AuditHead> {
    this.check();
    return { ...this.log.head };
  }

  verify(options?: AuditVerifyOptions): Promise<AuditVerifyResult> {
    this.check();
    return verifyAuditChain(
      { readRecords: (from, limit) => this.readRecords(from, limit), recordedHead: async () => ({ ...this.log.head }) },
      options,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
  }
}
