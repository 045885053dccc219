/**
 * The environment a handler process starts with: the worker's, less every REDISPATCH_* setting. A
 * handler gets its message through the handler contract and never talks to our Redis, so it needs
 * none of them — and they include the Redis URL, its password, lock masters and TLS key paths
 * (issue 22: an isolated handler could read the worker's credentials). Variables the handler itself
 * needs (its own API keys, paths) pass through unchanged.
 */
export function handlerEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^REDISPATCH_/i.test(name)));
}
