import type { Config } from '@redispatch/shared';
import type { Ingress, PubSubClient } from './ingress.js';
import { JetStreamIngress } from './jetstream-ingress.js';
import { NatsIngress } from './nats-ingress.js';
import { RedisIngress } from './redis-ingress.js';

/** Minimum JetStream ack wait: a takeover must finish before the old leader's deliveries are re-sent. */
const MIN_ACK_WAIT_MS = 5_000;

export function createIngress(config: Config, subscriber: PubSubClient, instanceId: string): Ingress {
  const subject = config.natsSubject ?? config.channel;
  const nats = { urls: config.natsUrl, tlsCaFile: config.natsTlsCaFile, name: `redispatch-${instanceId}` };
  switch (config.ingress) {
    case 'redis':
      return new RedisIngress(subscriber, config.channel);
    case 'nats':
      return new NatsIngress(nats, subject);
    case 'jetstream':
      return new JetStreamIngress(nats, {
        subject,
        stream: config.natsStream,
        consumer: config.natsConsumer,
        ackWaitMs: Math.max(MIN_ACK_WAIT_MS, 3 * config.leaseMs),
      });
  }
}
