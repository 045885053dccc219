// Worker handler for the poison-message fault test: a payload containing POISON kills the worker process
// itself (as a native crash or an OOM kill would), before recording or acking anything; every other
// payload goes to the checker handler, which records it.
import checker from '../fixtures/checker-handler.mjs';

export default async function poison(msg) {
  if (msg.body.includes('POISON')) process.exit(1);
  return checker(msg);
}
