/**
 * Risk alerts go to people, not to conversations: the case's therapist and its supervisor are alerted live on every
 * connection they have, on any node, whether or not they have joined the conversation (a supervisor never joins
 * one). The node that stored the message publishes one event on the bus's node channel; every node hands the alert
 * to its own connections of the named users. The alert names the message by conversation and `seq` and the case by
 * its reference: never the text, never the patient.
 */
import type { RiskAlertFrame } from '@therapy-chat/protocol';
import { type Bus, type BusHandler, NODE_CHANNEL } from '../bus/bus.js';
import { OutboundFrame } from '../chat/outbound.js';

export type RiskAlert = Omit<RiskAlertFrame, 'type'>;

export class RiskAlertRouter {
  private readonly handler: BusHandler = (_channel, event) => {
    if (event.kind !== 'risk-alert') return;
    const { kind: _kind, recipients, ...alert } = event;
    const frame = new OutboundFrame({ type: 'risk-alert', ...alert });
    for (const userId of new Set(recipients)) this.deliver(userId, frame);
  };

  /** `deliver` writes the frame to every local connection of the user, never shedding it. */
  constructor(
    private readonly bus: Bus,
    private readonly deliver: (userId: string, frame: OutboundFrame) => void,
  ) {}

  /** Resolves once alerts published anywhere reach this node. */
  start(): Promise<void> {
    return this.bus.subscribe(NODE_CHANNEL, this.handler);
  }

  stop(): Promise<void> {
    return this.bus.unsubscribe(NODE_CHANNEL, this.handler);
  }

  /** Alerts each of `recipients` (user ids; nulls skipped) wherever they are connected. */
  raise(alert: RiskAlert, recipients: readonly (string | null)[]): void {
    const to = recipients.filter((r): r is string => r !== null);
    if (to.length > 0) this.bus.publish(NODE_CHANNEL, { kind: 'risk-alert', recipients: to, ...alert });
  }
}
