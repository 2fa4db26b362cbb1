// A tiny HTTP "API server" on 127.0.0.1 for the transport's unit tests: it
// answers as each test tells it to, including the hostile answers a real
// kube-apiserver cannot be made to give on cue (a response that trickles
// forever, a 429 with Retry-After on one particular request).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';

export interface ScriptedServer {
  url: string;
  kubeconfig: KubeConfig;
  /** Requests seen so far (method and path). */
  seen: string[];
  close(): Promise<void>;
}

export async function scriptedServer(
  handler: (req: http.IncomingMessage, res: http.ServerResponse, n: number) => void,
): Promise<ScriptedServer> {
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res, seen.length);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromOptions({
    clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
    users: [{ name: 'u', token: 't' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return {
    url,
    kubeconfig,
    seen,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

export function json(res: http.ServerResponse, status: number, body: unknown, headers = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

/** Settles with the promise's outcome, or with 'pending' when it has not settled after `ms`. */
export async function outcomeWithin<T>(
  p: Promise<T>,
  ms: number,
): Promise<{ ok: T } | { err: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([
    p.then(
      (ok) => ({ ok }),
      (err: unknown) => ({ err }),
    ),
    new Promise<'pending'>((res) => {
      timer = setTimeout(() => res('pending'), ms);
    }),
  ]);
  clearTimeout(timer);
  return r;
}
