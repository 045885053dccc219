import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** PEM files of one test PKI, all in one directory. */
export interface TestPki {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

/** Fails with the missing binary's name, so a machine without openssl says so instead of a spawn error. */
export function requireOpenssl(): void {
  const probe = spawnSync('openssl', ['version'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0)
    throw new Error(
      'openssl not found on PATH: the TLS tests make their certificates with it (apt-get install openssl)',
    );
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * A fresh CA `<name>-ca`, a server certificate for 127.0.0.1 (IP SAN; DNS localhost) and a client
 * certificate, both signed by the CA, written to `dir` as `<name>-*.crt|key`. Valid for one day.
 */
export function makeTestPki(dir: string, name: string): TestPki {
  requireOpenssl();
  const file = (suffix: string) => join(dir, `${name}-${suffix}`);
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    file('ca.key'),
    '-out',
    file('ca.crt'),
    '-days',
    '1',
    '-subj',
    `/CN=${name}-ca`,
  ]);
  const sign = (role: 'server' | 'client', extensions: string) => {
    writeFileSync(file(`${role}.ext`), extensions);
    openssl(dir, [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      file(`${role}.key`),
      '-out',
      file(`${role}.csr`),
      '-subj',
      role === 'server' ? '/CN=127.0.0.1' : `/CN=${name}-client`,
    ]);
    openssl(dir, [
      'x509',
      '-req',
      '-in',
      file(`${role}.csr`),
      '-CA',
      file('ca.crt'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-out',
      file(`${role}.crt`),
      '-days',
      '1',
      '-extfile',
      file(`${role}.ext`),
    ]);
  };
  sign('server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  sign('client', 'extendedKeyUsage=clientAuth\n');
  return {
    caCert: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
  };
}

/** A self-signed server certificate for 127.0.0.1 (no CA): what verification must refuse by default. */
export function makeSelfSignedCert(dir: string, name: string): { cert: string; key: string } {
  requireOpenssl();
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  openssl(dir, [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
  return { cert, key };
}
