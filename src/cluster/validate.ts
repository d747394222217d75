import { isIP } from 'node:net';

/**
 * Formats a DCS value must have before it may land in a rendered file. Member names and scopes end up as
 * HAProxy server/backend names and log fields; hosts end up after `server` or `host=`. Anything outside
 * these character sets is rejected, never escaped: a rejected value is reported, not repaired.
 */
/** A Patroni member or scope name Switchyard accepts: the one definition (config, agent and DCS values). */
export const NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

export function isSafeName(value: string): boolean {
  return NAME_PATTERN.test(value);
}

/**
 * A scope name found under the namespace (with `clusters: ["*"]`) must be as safe as a member name: it
 * becomes a backend name, a log field and a metric label.
 */
export function isSafeScope(value: string): boolean {
  return NAME_PATTERN.test(value);
}

/**
 * True when `value` has a C0 control character, DEL or a C1 control character. Checked before any parser
 * sees the value: the WHATWG URL parser silently drops tabs and newlines, so a `conn_url` carrying a
 * second HAProxy line would otherwise parse as a harmless URL.
 */
export function hasControlChars(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

export const CONTROL_CHARS_REASON = 'must not contain control characters (newline, tab, ...)';

/** IPv4, IPv6 (without brackets) or an RFC 1123 host name. */
export function isSafeHost(value: string): boolean {
  if (isIP(value) !== 0) return true;
  if (value.length === 0 || value.length > 253) return false;
  return value.split('.').every((label) => DNS_LABEL.test(label));
}

export function isValidPort(value: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= 65535;
}

export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses `postgres://host:port/db` (Patroni's `conn_url`) or `http(s)://host:port/patroni` (`api_url`).
 * Returns a reason string when the URL is unusable.
 */
export function parseEndpointUrl(
  value: string,
  protocols: readonly string[],
  defaultPort: number,
): HostPort | string {
  if (hasControlChars(value)) return `${CONTROL_CHARS_REASON}: ${JSON.stringify(truncate(value))}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `not a URL: ${JSON.stringify(truncate(value))}`;
  }
  if (!protocols.includes(url.protocol)) {
    return `expected ${protocols.join(' or ')} URL, got ${JSON.stringify(url.protocol)}`;
  }
  if (url.hash !== '' || url.username !== '' || url.password !== '') {
    return `unexpected ${url.hash !== '' ? 'fragment' : 'credentials'} in ${JSON.stringify(truncate(value))}`;
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (!isSafeHost(host)) return `host ${JSON.stringify(truncate(host))} is not an IP address or host name`;
  const port = url.port === '' ? defaultPort : Number(url.port);
  if (!isValidPort(port)) return `port ${JSON.stringify(url.port)} is out of range`;
  return { host, port };
}

/** Keeps hostile values short in logs and errors. */
export function truncate(value: string, max = 80): string {
  return value.length > max ? `${value.slice(0, max)}…` : value;
}
