import { request } from 'node:http';

/** Response of {@link httpRequest}. `json` is the parsed body, or undefined when it is not JSON. */
export interface HttpResult {
  status: number;
  body: string;
  json: unknown;
}

/**
 * One plain-HTTP request (loopback REST APIs: Patroni, the agent, Switchyard's /status), bounded by
 * `timeoutMs` (default 3 s). Rejects on connection errors and timeouts; any status code resolves.
 */
export function httpRequest(
  url: string,
  options: {
    method?: string;
    body?: unknown;
    auth?: { username: string; password: string };
    timeoutMs?: number;
  } = {},
): Promise<HttpResult> {
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = {};
  if (payload !== undefined) headers['content-type'] = 'application/json';
  if (options.auth) {
    headers.authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
  }
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method ?? 'GET', headers, timeout: options.timeoutMs ?? 3_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('error', reject);
        res.on('end', () => {
          let json: unknown;
          try {
            json = JSON.parse(body);
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body, json });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${options.method ?? 'GET'} ${url} timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}
