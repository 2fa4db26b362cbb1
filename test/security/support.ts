// Helpers for the security tests: local stand-ins for Prometheus on 127.0.0.1
// (a real Prometheus cannot check our credentials or serve a self-signed
// certificate on demand), a trap listener that counts every connection, and a
// search for secret values in everything the operator writes.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { type FakePrometheus, sendJson, startFake, success, vectorOf } from '../collector/fake-prometheus.ts';
import { OperatorProcess } from '../e2e/support.ts';
import { kubectl, sandboxEnv, waitEstablished, waitFor } from '../support/sandbox.ts';

export { type FakePrometheus, startFake } from '../collector/fake-prometheus.ts';

/** A listener that accepts connections, counts them, and says nothing. */
export interface Trap {
  url: string;
  connections: number;
  close(): Promise<void>;
}

export async function startTrap(): Promise<Trap> {
  const sockets = new Set<net.Socket>();
  const trap = { url: '', connections: 0, close: async () => {} };
  const server = net.createServer((s) => {
    trap.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  trap.url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  trap.close = () => {
    for (const s of sockets) s.destroy();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return trap;
}

/**
 * Answers instant queries like Prometheus with `value`, but only to requests whose
 * Authorization header `authorized` accepts; others get a 401 whose body echoes the
 * header they sent, as a hostile or careless server might, so the test can check
 * that outside text carrying a credential is redacted before it is shown anywhere.
 */
export async function startPrometheusStandIn(
  opts: { tls?: boolean; value?: number; authorized?: (h: IncomingHttpHeaders) => boolean } = {},
): Promise<FakePrometheus> {
  const fake = await startFake({ tls: opts.tls ?? false });
  fake.handle((req, res) => {
    if (opts.authorized && !opts.authorized(req.headers)) {
      sendJson(res, 401, {
        status: 'error',
        errorType: 'unauthorized',
        error: `bad credentials: ${req.headers.authorization ?? '(none)'}`,
      });
      return;
    }
    sendJson(res, 200, success(vectorOf(opts.value ?? 1)));
  });
  return fake;
}

/** A plain Deployment (KWOK runs its pods) that nothing but the policy under test may scale. */
export function target(namespace: string, name: string, replicas: number) {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: { 'pod-ready.stage.kwok.x-k8s.io/delay': '1s' } },
        spec: { containers: [{ name: 'app', image: 'example.invalid/web:1' }] },
      },
    },
  };
}

export async function installCrd(): Promise<void> {
  await kubectl(['apply', '-f', new URL('../../crds', import.meta.url).pathname]);
  await waitEstablished();
}

/** An operator watching `namespaces`, whose allow-list is exactly `allowed`. */
export async function startOperator(
  name: string,
  namespaces: string[],
  allowed: string[],
  extra: string[] = [],
): Promise<OperatorProcess> {
  const op = await OperatorProcess.start(name, [
    '--namespaces',
    namespaces.join(','),
    '--lease-name',
    name,
    '--allowed-prometheus',
    allowed.join(','),
    ...extra,
  ]);
  await waitFor(() => op.isLeader(), { timeoutMs: 20_000, what: `operator ${name} to lead` });
  return op;
}

/** The whole log file of an operator started by OperatorProcess (stdout and stderr). */
export function operatorLog(name: string): string {
  return readFileSync(join(sandboxEnv().dir, 'logs', `e2e-${name}.log`), 'utf8');
}

/** Every form in which a secret value could leak: as is, base64, and inside an Authorization header. */
export function leakForms(values: Record<string, string>, basic?: { username: string; password: string }) {
  const forms: Record<string, string> = {};
  for (const [k, v] of Object.entries(values)) {
    forms[k] = v;
    forms[`base64(${k})`] = Buffer.from(v).toString('base64');
  }
  if (basic) {
    forms[`base64(${basic.username}:password)`] = Buffer.from(`${basic.username}:${basic.password}`).toString(
      'base64',
    );
  }
  return forms;
}

/** Fails naming each place and form where a secret value appears. */
export function assertNoLeak(places: Record<string, string>, forms: Record<string, string>): void {
  const found: string[] = [];
  for (const [place, text] of Object.entries(places)) {
    for (const [form, needle] of Object.entries(forms))
      if (text.includes(needle)) found.push(`${form} in ${place}`);
  }
  assert.deepEqual(found, [], 'credential values leaked');
}
