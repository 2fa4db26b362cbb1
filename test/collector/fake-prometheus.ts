// A local HTTP(S) server on 127.0.0.1 that stands in for Prometheus where the
// real one cannot be made to misbehave on demand: hanging, dripping bytes,
// failing with chosen statuses, answering megabytes, redirecting, echoing
// headers. Results Prometheus can really produce (NaN, several series, ...) are
// tested against the real sandbox Prometheus in collector.int.test.ts.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';

export interface Seen {
  path: string;
  params: URLSearchParams;
  headers: http.IncomingHttpHeaders;
}

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse, seen: Seen) => void;

export interface FakePrometheus {
  url: string;
  seen: Seen[];
  handle(h: Handler): void;
  close(): Promise<void>;
}

const fixture = (f: string) => readFileSync(new URL(`./fixtures/${f}`, import.meta.url), 'utf8');
export const TEST_CA = fixture('tls.crt');

export async function startFake(opts: { tls?: boolean } = {}): Promise<FakePrometheus> {
  let handler: Handler = (_req, res) => sendJson(res, 200, success(vectorOf(1)));
  const seen: Seen[] = [];
  const listener = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      const params = new URLSearchParams(url.search);
      for (const [k, v] of new URLSearchParams(body)) params.append(k, v);
      const s = { path: url.pathname, params, headers: req.headers };
      seen.push(s);
      handler(req, res, s);
    });
  };
  const server = opts.tls
    ? https.createServer({ key: fixture('tls.key'), cert: TEST_CA }, listener)
    : http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    seen,
    handle(h) {
      handler = h;
    },
    close() {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export const success = (data: unknown) => ({ status: 'success', data });

export function vectorOf(value: string | number, t = Date.now() / 1000) {
  return { resultType: 'vector', result: [{ metric: {}, value: [t, String(value)] }] };
}
