import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from './exec.js';

/** PEM file paths written by {@link makeCertificates}. All files are 0644 (test keys; readable by postgres). */
export interface TestCertificates {
  /** CA certificate that signed both certificates. */
  ca: string;
  /** Server certificate for CN=localhost, SAN IP:127.0.0.1 and DNS:localhost. */
  serverCert: string;
  serverKey: string;
  /** Client certificate (CN=`clientName`, default "switchyard-client", which is no etcd user, so auth still needs a password). */
  clientCert: string;
  clientKey: string;
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await run('openssl', args, { cwd, timeoutMs: 20_000 });
}

/** Creates a throwaway CA plus a server and a client certificate (EC P-256, 2 days) in `dir` with openssl. */
export async function makeCertificates(
  dir: string,
  clientName = 'switchyard-client',
): Promise<TestCertificates> {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl(
    [
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=switchyard-test-ca',
    ],
    dir,
  );
  writeFileSync(
    join(dir, 'server.ext'),
    'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n',
  );
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [
    ['server', 'localhost'],
    ['client', clientName],
  ] as const) {
    await openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`], dir);
    const sign = [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
    ];
    await openssl([...sign, '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  }
  const files = ['ca.pem', 'server.pem', 'server.key', 'client.pem', 'client.key'];
  for (const f of files) chmodSync(join(dir, f), 0o644);
  return {
    ca: join(dir, 'ca.pem'),
    serverCert: join(dir, 'server.pem'),
    serverKey: join(dir, 'server.key'),
    clientCert: join(dir, 'client.pem'),
    clientKey: join(dir, 'client.key'),
  };
}
