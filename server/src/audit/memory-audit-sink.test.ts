import { describeAuditSinkContract } from './audit-sink.contract.js';
import { MemoryAuditSink } from './memory-audit-sink.js';

describeAuditSinkContract('memory', async () => {
  const sink = new MemoryAuditSink();
  const { log } = sink;
  const others: MemoryAuditSink[] = [];
  return {
    sink,
    another: async () => {
      const other = new MemoryAuditSink(log);
      others.push(other);
      return other;
    },
    tamper: {
      rows: async () => [...log.records].sort((a, b) => a.seq - b.seq).map((r) => ({ ...r })),
      update: async (seq, values) => {
        const i = log.records.findIndex((r) => r.seq === seq);
        log.records[i] = { ...log.records[i]!, ...values };
      },
      delete: async (seq) => {
        log.records = log.records.filter((r) => r.seq !== seq);
      },
      insert: async (record) => {
        log.records.push({ ...record });
      },
      setHead: async (head) => {
        log.head = { ...head };
      },
    },
    cleanup: async () => {
      for (const s of [sink, ...others]) await s.close();
    },
  };
});
