import { type Config, type DataClient, framePayload, Publisher } from '@redispatch/shared';
import type { NatsConnection } from 'nats';
import { connectNats } from '../ingress/nats-connection.js';

/** Where the relay sends inbound frames: the deployment's ingress. Resolves to false when nobody got it. */
export interface FramePublisher {
  /** `identity`: what the auth hook said the client is; handlers see it as `msg.header.identity`. */
  publish(body: Buffer, replyTo: string, identity: string | undefined): Promise<boolean>;
  close(): Promise<void>;
}

/** Redis pub/sub: PUBLISH on the channel (the receiver count tells whether a dispatcher heard it). */
export function redisFramePublisher(redis: DataClient, channel: string): FramePublisher {
  const publisher = new Publisher({ redis, channel, stampTime: true });
  return {
    publish: async (body, replyTo, identity) => (await publisher.publish(body, { replyTo, identity })) > 0,
    close: async () => {},
  };
}

/** NATS core or JetStream, the same subject the dispatchers consume (REDISPATCH_INGRESS). */
export async function natsFramePublisher(config: Config, name: string): Promise<FramePublisher> {
  const connection: NatsConnection = await connectNats({
    urls: config.natsUrl,
    tlsCaFile: config.natsTlsCaFile,
    name,
  });
  const subject = config.natsSubject ?? config.channel;
  const js = config.ingress === 'jetstream' ? connection.jetstream() : undefined;
  return {
    publish: async (body, replyTo, identity) => {
      const payload = framePayload(body, { replyTo, stampTime: true, identity });
      const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
      if (js) await js.publish(subject, bytes);
      else connection.publish(subject, bytes);
      return true;
    },
    close: () => connection.drain(),
  };
}
