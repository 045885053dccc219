#!/usr/bin/env node
// Prints (PEM) the CA certificates this machine trusts beyond Node's built-in roots: the ones npm
// needs inside `docker build` when the registry is reached through a TLS-intercepting proxy (our CI
// sandboxes). Prints nothing when there are none, or no bundle is found.
//
// The bundle is argv[2], else $NODE_EXTRA_CA_CERTS, else $SSL_CERT_FILE, else Debian's
// /etc/ssl/certs/ca-certificates.crt. Only the difference from tls.rootCertificates is printed
// (tens of kB instead of ~220 kB), so it fits in a build argument: deploy/docker/build-image.sh passes
// it as BUILD_EXTRA_CA_PEM, which the Dockerfile's build stages hand to npm through
// NODE_EXTRA_CA_CERTS for one RUN. Nothing of it reaches the runtime stage.
import { existsSync, readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

const candidates = [
  process.argv[2],
  process.env.NODE_EXTRA_CA_CERTS,
  process.env.SSL_CERT_FILE,
  '/etc/ssl/certs/ca-certificates.crt',
];
const bundle = candidates.find((path) => path && existsSync(path));
if (bundle) {
  const normalize = (pem) => pem.replace(/\s+/g, '');
  const builtIn = new Set(rootCertificates.map(normalize));
  const seen = new Set();
  const extra = [];
  for (const pem of readFileSync(bundle, 'utf8').match(
    /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
  ) ?? []) {
    const key = normalize(pem);
    if (builtIn.has(key) || seen.has(key)) continue;
    seen.add(key);
    extra.push(pem);
  }
  if (extra.length > 0) process.stdout.write(`${extra.join('\n')}\n`);
}
