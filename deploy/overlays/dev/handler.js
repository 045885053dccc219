// Example handler for the dev overlay, mounted at /app/handlers/handler.js. It logs and acks.
// The handler contract is the worker's (see the worker's documentation): resolve to ack, throw to
// nack (retried with backoff, dead-lettered after REDISPATCH_MAX_ATTEMPTS).
export default async function handle(message) {
  const size = message?.body?.length ?? message?.payload?.length ?? 0;
  console.log(JSON.stringify({ msg: 'example handler', id: message?.id, bytes: size }));
}
