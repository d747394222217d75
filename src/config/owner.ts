import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** Owner of a written file: `user`, `user:group` or `uid:gid`. */
export const FileOwnerSchema = z
  .string()
  .regex(/^[a-z_][a-z0-9_-]*(:[a-z_][a-z0-9_-]*)?$|^\d+(:\d+)?$/, 'must be user, user:group or uid:gid');

/**
 * `postgres`, `postgres:postgres` or `uid:gid` → numeric ids, from /etc/passwd and /etc/group. `key` is
 * the config key the value came from, for the error (e.g. `targets.pgcat.owner`).
 */
export function resolveOwner(owner: string, key: string): { uid: number; gid: number } {
  const [user = '', group] = owner.split(':');
  const lookup = (file: string, name: string): string[] | null => {
    const line = readFileSync(file, 'utf8')
      .split('\n')
      .find((l) => l.split(':')[0] === name);
    return line ? line.split(':') : null;
  };
  let uid: number;
  let gid: number;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
    gid = uid;
  } else {
    const entry = lookup('/etc/passwd', user);
    if (!entry) throw new ConfigError(`${key}: no user ${user} in /etc/passwd`);
    uid = Number(entry[2]);
    gid = Number(entry[3]);
  }
  if (group !== undefined) {
    if (/^\d+$/.test(group)) gid = Number(group);
    else {
      const entry = lookup('/etc/group', group);
      if (!entry) throw new ConfigError(`${key}: no group ${group} in /etc/group`);
      gid = Number(entry[2]);
    }
  }
  return { uid, gid };
}
