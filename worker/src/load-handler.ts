import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { HandlerLoadError } from '@redispatch/shared';
import type { Handler } from './message.js';

/**
 * Imports a handler module (path relative to the working directory, or a package name) and checks
 * that its default export is a function. Errors are one line naming the setting.
 */
export async function loadHandler(specifier: string): Promise<Handler> {
  const isPath = specifier.startsWith('.') || specifier.startsWith('/') || /\.[cm]?[jt]s$/.test(specifier);
  const target = isPath ? pathToFileURL(resolve(specifier)).href : specifier;
  let module: { default?: unknown };
  try {
    module = (await import(target)) as { default?: unknown };
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new HandlerLoadError(`REDISPATCH_HANDLER (--handler): cannot load "${specifier}": ${reason}`, {
      cause: error,
    });
  }
  const handler = module.default;
  if (typeof handler !== 'function') {
    throw new HandlerLoadError(
      `REDISPATCH_HANDLER (--handler): "${specifier}" must have a default export that is a function (async (msg) => …), got ${typeof handler}`,
    );
  }
  return handler as Handler;
}
