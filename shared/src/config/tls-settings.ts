import type { Config } from './load-config.js';
import type { TlsSettings } from './redis-url.js';

export function tlsSettingsFrom(config: Config): TlsSettings {
  return {
    caFile: config.tlsCaFile,
    certFile: config.tlsCertFile,
    keyFile: config.tlsKeyFile,
    insecure: config.tlsInsecure,
  };
}
