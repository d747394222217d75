import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { RouterStatus } from '../router/router.js';
import { renderStatusMain, renderStatusPage } from './page.js';

export interface ApiSources {
  status(): RouterStatus;
  registry: Registry;
  beforeMetrics?(): void;
}

/**
 * `/` (the status page: HTML), `/health` (200 when etcd answers and every target applied the latest
 * generation, else 503 with the reasons), `/ready` (same rule), `/status` (JSON), `/metrics` (Prometheus text).
 */
export function createApiServer(sources: ApiSources): Server {
  return createServer((req, res) => {
    const [path, query = ''] = (req.url ?? '/').split('?');
    const send = (code: number, body: string, type = 'application/json') => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(405, JSON.stringify({ error: 'only GET and HEAD' }));
    switch (path) {
      case '/': {
        const html = 'text/html; charset=utf-8';
        const status = sources.status();
        return new URLSearchParams(query).get('part') === 'main'
          ? send(200, renderStatusMain(status), html)
          : send(200, renderStatusPage(status), html);
      }
      case '/health':
      case '/ready': {
        const s = sources.status();
        return send(
          s.healthy ? 200 : 503,
          `${JSON.stringify({ healthy: s.healthy, reasons: s.reasons, generation: s.generation })}\n`,
        );
      }
      case '/status':
        return send(200, `${JSON.stringify(sources.status(), null, 2)}\n`);
      case '/metrics':
        sources.beforeMetrics?.();
        sources.registry
          .metrics()
          .then((text) => send(200, text, sources.registry.contentType))
          .catch((err: Error) => send(500, JSON.stringify({ error: err.message })));
        return;
      default:
        return send(
          404,
          JSON.stringify({ error: `no such path ${path}; try /, /health, /status or /metrics` }),
        );
    }
  });
}

export async function listen(
  server: Server,
  host: string,
  port: number,
): Promise<{ host: string; port: number }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return { host, port: typeof address === 'object' && address ? address.port : port };
}
