import { connect, type Socket } from 'node:net';
import { SwitchyardError } from '../../errors.js';

/** Connects to `tcp://host:port` (a remote HAProxy's `stats socket ipv4@…`) or a Unix socket path. */
function connectTo(endpoint: string): Socket {
  const tcp = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(endpoint);
  return tcp ? connect({ host: tcp[1] as string, port: Number(tcp[2]) }) : connect(endpoint);
}

/** Errors of a lost or refused connection: worth one more attempt (a remote box, a restarting HAProxy). */
const RETRYABLE = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * HAProxy runtime API over its stats socket (`level admin`), local (Unix path) or remote (`tcp://`).
 * One connection per call, bounded by `timeoutMs`; several commands are sent in one line separated by
 * `;` and run in order. Success prints nothing; any text is an error. A lost or refused connection is
 * retried once (every command the router sends is idempotent), then thrown as SY_ERR_RUNTIME_API.
 */
export async function runtimeCommand(endpoint: string, command: string, timeoutMs = 1000): Promise<string> {
  const startedAt = Date.now();
  try {
    return await runtimeCommandOnce(endpoint, command, timeoutMs);
  } catch (err) {
    const code = ((err as { cause?: { code?: string } }).cause ?? {}).code;
    const left = timeoutMs - (Date.now() - startedAt);
    if (!code || !RETRYABLE.has(code) || left < 50) throw err;
    await new Promise((r) => setTimeout(r, Math.min(100, left / 4)));
    return runtimeCommandOnce(endpoint, command, left);
  }
}

function runtimeCommandOnce(socketPath: string, command: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connectTo(socketPath);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new SwitchyardError(
          'SY_ERR_RUNTIME_API',
          `HAProxy runtime API at ${socketPath} did not answer within ${timeoutMs} ms`,
        ),
      );
    }, timeoutMs);
    socket.on('connect', () => socket.end(`${command}\n`));
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      const lost = socketPath.startsWith('tcp://')
        ? ' (connection lost or refused: is the stats socket bound on that address and reachable from this host?)'
        : '';
      reject(
        new SwitchyardError(
          'SY_ERR_RUNTIME_API',
          `HAProxy runtime API at ${socketPath}: ${err.message}${lost}`,
          { cause: err },
        ),
      );
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
  });
}

export interface LiveServer {
  backend: string;
  server: string;
  /** The address HAProxy connects to (resolved), as printed. */
  address: string;
  /** The port HAProxy connects to, or null when the line has no srv_port field. */
  port: number | null;
  /** 0 stopped, 1 starting, 2 running, 3 stopping. */
  opState: number;
  adminState: number;
}

/**
 * Parses `show servers state` (format version 1: be_id be_name srv_id srv_name srv_addr srv_op_state
 * srv_admin_state … srv_port is the 19th field).
 */
export function parseServersState(text: string): Map<string, LiveServer> {
  const servers = new Map<string, LiveServer>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || /^\d+$/.test(line.trim())) continue;
    const f = line.trim().split(/\s+/);
    if (f.length < 7) continue;
    const [, backend, , server, address, op, admin] = f as [
      string,
      string,
      string,
      string,
      string,
      string,
      string,
    ];
    const port = f.length > 18 ? Number(f[18]) : NaN;
    servers.set(`${backend}/${server}`, {
      backend,
      server,
      address,
      port: Number.isInteger(port) && port > 0 ? port : null,
      opState: Number(op),
      adminState: Number(admin),
    });
  }
  return servers;
}

/**
 * The last command of every batch and query: its output (the version line) is known, so a reply without
 * it was cut short (HAProxy prints nothing for a successful `set server`, so a TCP connection lost
 * mid-batch would otherwise read as success). Tested on HAProxy 2.6 and 3.0.
 */
export const END_MARKER = 'show version';

/**
 * Removes the end marker's reply (`\n<version>\n\n`, the last block) and returns what the commands before
 * it printed; null when the reply does not end with it (the connection closed before the last command ran).
 */
export function stripEndMarker(reply: string): string | null {
  const m = /\n(\d+\.\d+\S*)\n+$/.exec(reply);
  return m ? reply.slice(0, m.index + 1) : null;
}

/**
 * Runs one or more commands followed by the end marker and returns their output; throws
 * SY_ERR_RUNTIME_API when the reply is truncated (connection closed before every command ran).
 */
export async function runtimeQuery(endpoint: string, command: string, timeoutMs: number): Promise<string> {
  const reply = await runtimeCommand(endpoint, `${command};${END_MARKER}`, timeoutMs);
  const output = stripEndMarker(reply);
  if (output === null)
    throw new SwitchyardError(
      'SY_ERR_RUNTIME_API',
      `HAProxy runtime API at ${endpoint}: the reply ended before the last command of the batch ran (expected the "${END_MARKER}" line at the end, got ${reply.length} bytes${reply.length > 0 ? ` ending ${JSON.stringify(reply.slice(-40))}` : ''}); the connection was closed mid-batch, so some commands may not have run`,
    );
  return output;
}

/** Runs commands in one round trip; throws with HAProxy's text when any command printed an error. */
export async function runBatch(
  socketPath: string,
  commands: readonly string[],
  timeoutMs: number,
): Promise<void> {
  if (commands.length === 0) return;
  const output = (await runtimeQuery(socketPath, commands.join(';'), timeoutMs)).trim();
  if (output !== '') {
    throw new SwitchyardError(
      'SY_ERR_RUNTIME_API',
      `HAProxy refused a runtime command (${commands.length} sent): ${output.split('\n').slice(0, 3).join(' | ')}`,
    );
  }
}
