// Example handler for the dev overlay, mounted at /app/handlers/handler.js. It logs and acks.
// Contract (worker/src/message.ts): the default export receives { id, body: Buffer, attempt,
// signal, claimedAt }; resolve to ack, throw to nack (retried with backoff, dead-lettered after
// REDISPATCH_MAX_ATTEMPTS). Honour `signal`: it aborts at the ack deadline or on shutdown.
export default async function handle(message) {
  console.log(
    JSON.stringify({
      msg: 'example handler',
      id: message.id,
      attempt: message.attempt,
      bytes: message.body.length,
    }),
  );
}
