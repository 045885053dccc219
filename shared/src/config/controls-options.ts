import { z } from 'zod';
import { bool, intAtLeast, option } from './option-schemas.js';

/** Handler controls: automatic claim extension, the handler timeout, the results stream. */
export const CONTROLS_OPTIONS = {
  autoExtend: option(
    'AUTO_EXTEND',
    '--auto-extend [bool]',
    'Extend the claims of handlers still running every third of the ack timeout, up to the handler timeout (msg.extend does it by hand)',
    bool,
    'false',
  ),
  handlerTimeoutMs: option(
    'HANDLER_TIMEOUT_MS',
    '--handler-timeout-ms <ms>',
    'Longest a handler runs while its claim is extended (auto or msg.extend); then msg.signal aborts and the message is redelivered. A claim never extended still ends at the ack timeout',
    intAtLeast(100),
    '300000',
  ),
  results: option(
    'RESULTS',
    '--results <off|stream>',
    "stream: each acked handler's return value is appended {id, result} to the results stream, in the ack's script call",
    z.enum(['off', 'stream']),
    'off',
  ),
  resultsMaxlen: option(
    'RESULTS_MAXLEN',
    '--results-maxlen <n>',
    'Approximate cap of each results stream (XADD MAXLEN ~)',
    intAtLeast(1),
    '10000',
  ),
};
