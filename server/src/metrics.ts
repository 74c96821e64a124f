/** Prometheus metrics, one registry per server instance (so several servers can share a test process). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class Metrics {
  readonly registry = new Registry();
  readonly connections = new Gauge({
    name: 'tc_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });
  readonly framesIn = new Counter({
    name: 'tc_frames_in_total',
    help: 'Frames received, by type (`invalid` when they failed validation)',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly framesOut = new Counter({
    name: 'tc_frames_out_total',
    help: 'Frames sent, by type',
    labelNames: ['type'],
    registers: [this.registry],
  });
  readonly framesShed = new Counter({
    name: 'tc_frames_shed_total',
    help: 'Ephemeral frames (typing, presence) not sent because the connection was behind',
    registers: [this.registry],
  });
  readonly messagesCommitted = new Counter({
    name: 'tc_messages_committed_total',
    help: 'Messages durably committed to the store',
    registers: [this.registry],
  });
  readonly commitBatchSize = new Histogram({
    name: 'tc_commit_batch_size',
    help: 'Messages per group commit',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  readonly commitSeconds = new Histogram({
    name: 'tc_commit_duration_seconds',
    help: 'Time of one group commit, from start of the transaction to its durable end',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly errors = new Counter({
    name: 'tc_errors_total',
    help: 'Error frames sent and connections closed, by code',
    labelNames: ['code'],
    registers: [this.registry],
  });

  readonly busPublishFailures = new Counter({
    name: 'tc_bus_publish_failures_total',
    help: 'Events the bus could not publish (Redis down); receivers recover the messages from the store',
    registers: [this.registry],
  });

  readonly riskHits = new Counter({
    name: 'tc_risk_hits_total',
    help: 'Patient messages that matched the risk screen, by category and level',
    labelNames: ['category', 'level'],
    registers: [this.registry],
  });

  constructor() {
    // Includes nodejs_eventloop_lag_seconds, process CPU and memory.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 20 });
  }
}
