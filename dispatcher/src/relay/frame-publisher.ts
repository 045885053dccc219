import {
  type Config,
  type DataClient,
  endPublishSpan,
  framePayload,
  Publisher,
  startPublishSpan,
} from '@redispatch/shared';
import type { NatsConnection } from 'nats';
import { connectNats } from '../ingress/nats-connection.js';

/** Where the relay sends inbound frames: the deployment's ingress. Resolves to false when nobody got it. */
export interface FramePublisher {
  /** `identity`: what the auth hook said the client is; handlers see it as `msg.header.identity`. */
  publish(body: Buffer, replyTo: string, identity: string | undefined): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Redis pub/sub: PUBLISH on the channel (the receiver count tells whether a dispatcher heard it).
 * The `Publisher` starts each frame's publish span and puts its traceparent in the envelope.
 */
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
      const options = { replyTo, stampTime: true, identity };
      // Each frame gets a publish span (when tracing is on) and carries its traceparent.
      const traced = startPublishSpan(subject, options);
      try {
        const payload = framePayload(body, traced?.options ?? options);
        const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
        if (js) await js.publish(subject, bytes);
        else connection.publish(subject, bytes);
      } catch (error) {
        if (traced) endPublishSpan(traced.span, error);
        throw error;
      }
      if (traced) endPublishSpan(traced.span, true);
      return true;
    },
    close: () => connection.drain(),
  };
}
