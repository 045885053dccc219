import { ConfigError, isRelayId } from '@redispatch/shared';
import type { Command } from 'commander';
import { Relay } from '../relay/relay.js';
import { configFrom, exitWithError } from './config-flags.js';
import { serveProcess } from './serve-process.js';

export function registerRelayCommand(program: Command): void {
  program
    .command('relay')
    .description(
      'Run a relay: accept WebSocket clients, publish their frames with a reply address, deliver the replies on the same socket (and POST replies addressed to http(s) URLs)',
    )
    .action(async (_options, command: Command) => {
      try {
        const config = configFrom(command);
        if (!isRelayId(config.instanceId)) {
          throw new ConfigError([
            'REDISPATCH_INSTANCE_ID (--instance-id) must be at most 200 characters for a relay: it is part of every reply address',
          ]);
        }
        if (config.relayPort < 0 && !config.relayHttp) {
          throw new ConfigError([
            'REDISPATCH_RELAY_PORT is -1 and REDISPATCH_RELAY_HTTP is false: the relay would have nothing to do',
          ]);
        }
        await serveProcess(
          'relay',
          config,
          ({ logger, registry }) => new Relay({ config, logger, registry }),
        );
      } catch (error) {
        exitWithError(error);
      }
    });
}
