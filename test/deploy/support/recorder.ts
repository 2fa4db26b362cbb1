// A plain-HTTP proxy in front of the API server that records every request the
// operator sends, as RBAC sees it ("group/resource verb"), with the answer's
// status. Streams (watches) pass through unbuffered.
import { type ClientRequest, createServer, type Server } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';

export interface Recorded {
  method: string;
  path: string;
  /** "group/resource[/subresource] verb", core group as "core"; "discovery GET" for /api, /apis. */
  grant: string;
  status: number;
}

/** What RBAC checks for one request path and method. */
export function toGrant(method: string, rawPath: string): string {
  const url = new URL(rawPath, 'http://x');
  const parts = url.pathname.split('/').filter(Boolean);
  let group: string;
  let rest: string[];
  if (parts[0] === 'api') {
    if (parts.length <= 2) return `discovery ${method}`;
    group = 'core';
    rest = parts.slice(2);
  } else if (parts[0] === 'apis') {
    if (parts.length <= 3) return `discovery ${method}`;
    group = parts[1]!;
    rest = parts.slice(3);
  } else {
    return `nonresource ${url.pathname} ${method}`;
  }
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, sub] = rest;
  const watch = url.searchParams.get('watch');
  const verb =
    method === 'GET'
      ? watch === 'true' || watch === '1'
        ? 'watch'
        : name
          ? 'get'
          : 'list'
      : (({ POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' } as Record<string, string>)[
          method
        ] ?? method);
  return `${group}/${resource}${sub ? `/${sub}` : ''} ${verb}`;
}

export async function startRecorder(upstream: { server: string; ca?: Buffer }): Promise<{
  url: string;
  recorded: Recorded[];
  close(): Promise<void>;
}> {
  const target = new URL(upstream.server);
  const recorded: Recorded[] = [];
  // Its own agent, and every upstream request tracked, so that close() leaves
  // no socket behind (watches never end by themselves).
  const agent = new Agent({ keepAlive: false, ...(upstream.ca ? { ca: upstream.ca } : {}) });
  const open = new Set<ClientRequest>();
  const server: Server = createServer((req, res) => {
    const headers = { ...req.headers, host: target.host };
    const up = httpsRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers,
        agent,
      },
      (r) => {
        recorded.push({
          method: req.method ?? '',
          path: req.url ?? '',
          grant: toGrant(req.method ?? '', req.url ?? ''),
          status: r.statusCode ?? 0,
        });
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    open.add(up);
    up.on('close', () => open.delete(up));
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    recorded,
    close: () =>
      new Promise<void>((r) => {
        for (const up of open) up.destroy();
        server.closeAllConnections();
        server.close(() => r());
        agent.destroy();
      }),
  };
}
