// Example handler for the dev overlay, mounted at /app/handlers/handler.js. It logs, acks and
// echoes the body as the reply: a WebSocket client of the dev relay gets its own frame back; a
// message without a reply address (a plain PUBLISH) gets no reply.
// Contract (worker/src/message.ts): the default export receives { id, body: Buffer, attempt,
// signal, claimedAt }; resolve to ack, throw to nack (retried with backoff, dead-lettered after
// REDISPATCH_MAX_ATTEMPTS); the resolved value is the reply (Buffer as bytes, string as UTF-8,
// undefined for none). Honour `signal`: it aborts at the ack deadline or on shutdown.
export default async function handle(message) {
  console.log(
    JSON.stringify({
      msg: 'example handler',
      id: message.id,
      attempt: message.attempt,
      bytes: message.body.length,
    }),
  );
  return message.body;
}
