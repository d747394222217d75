import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  existsSync,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  lstatSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { SwitchyardError, describeError } from '../../src/errors.js';

/** uid/gid a written file gets (the data directory's owner when the agent runs as root). */
export interface FileOwner {
  readonly uid: number;
  readonly gid: number;
}

export interface SafeWriteOptions {
  /** chown the file to this owner before it becomes visible; null when the agent is not root. */
  readonly owner: FileOwner | null;
  /** File mode; 0600 for anything holding a secret. */
  readonly mode: number;
  /**
   * Who may own the directory the file goes into (checked on the opened directory, after symlinks in
   * its path are resolved): `owner` for files inside the data directory (a data directory that resolves
   * to a root-owned directory such as /etc is refused), `owner-or-root` for pgpass and the initdb
   * password file, which an administrator may place in a root-owned directory.
   */
  readonly dirOwnedBy?: 'owner' | 'owner-or-root';
}

const HAS_PROC_FD = existsSync('/proc/self/fd');

function unsafe(path: string, what: string, cause?: unknown): SwitchyardError {
  return new SwitchyardError(
    'SY_ERR_AGENT',
    `refusing to write ${path}: ${what}${cause ? ` (${describeError(cause)})` : ''}`,
    cause === undefined ? {} : { cause },
  );
}

/**
 * Opens the file's directory and returns a path prefix that names that very directory
 * (`/proc/self/fd/N`), so the steps that follow cannot be redirected by a directory swapped for a
 * symlink in between (openat semantics without openat). Falls back to the plain path without /proc.
 */
function openDirectory(
  path: string,
  options: SafeWriteOptions,
): { fd: number | null; prefix: string; close(): void } {
  const dir = dirname(path);
  if (!HAS_PROC_FD) return { fd: null, prefix: dir, close: () => undefined };
  let fd: number;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (err) {
    throw unsafe(path, `cannot open its directory ${dir}`, err);
  }
  const close = () => closeSync(fd);
  if (options.owner) {
    const st = fstatSync(fd);
    const allowed = options.dirOwnedBy === 'owner-or-root' ? [options.owner.uid, 0] : [options.owner.uid];
    if (!allowed.includes(st.uid)) {
      close();
      throw unsafe(
        path,
        `its directory ${dir} is owned by uid ${st.uid}, expected uid ${allowed.join(' or ')} (the data directory's owner${allowed.length > 1 ? ' or root' : ''}); is it a symlink to another directory?`,
      );
    }
  }
  return { fd, prefix: `/proc/self/fd/${fd}`, close };
}

/** Refuses a symlink (or anything but a regular file) at `target`; true when the file exists. */
function checkTarget(shown: string, target: string): boolean {
  let st;
  try {
    st = lstatSync(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw unsafe(shown, 'cannot inspect it', err);
  }
  if (st.isSymbolicLink())
    throw unsafe(shown, 'it is a symbolic link; remove it (the agent never follows one)');
  if (!st.isFile()) throw unsafe(shown, 'it exists and is not a regular file');
  return true;
}

/**
 * Writes `text` to `path` without ever following a symlink: a temp file is created next to it with
 * O_CREAT|O_EXCL|O_NOFOLLOW, written, chowned and chmodded through its descriptor, fsynced, then renamed
 * over the target (rename replaces a symlink planted after the check, it never writes through it). A
 * symlink or non-regular file already at `path` is refused with SY_ERR_AGENT. Limit: POSIX only.
 */
export function writeFileNoFollow(path: string, text: string, options: SafeWriteOptions): void {
  const dir = openDirectory(path, options);
  try {
    const name = basename(path);
    const target = join(dir.prefix, name);
    checkTarget(path, target);
    const temp = join(dir.prefix, `.${name}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
    let fd: number;
    try {
      fd = openSync(
        temp,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        options.mode,
      );
    } catch (err) {
      throw unsafe(path, 'cannot create a temporary file next to it', err);
    }
    try {
      const data = Buffer.from(text, 'utf8');
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off);
      if (options.owner) fchownSync(fd, options.owner.uid, options.owner.gid);
      fchmodSync(fd, options.mode);
      fsyncSync(fd);
      closeSync(fd);
      renameSync(temp, target);
    } catch (err) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
      try {
        unlinkSync(temp);
      } catch {
        // never created or already renamed
      }
      throw err instanceof SwitchyardError ? err : unsafe(path, 'writing failed', err);
    }
  } finally {
    dir.close();
  }
}

/** Reads a file without following a symlink at its last component; null when it does not exist. */
export function readFileNoFollow(path: string): string | null {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    if (code === 'ELOOP')
      throw new SwitchyardError(
        'SY_ERR_AGENT',
        `refusing to read ${path}: it is a symbolic link; remove it (the agent never follows one)`,
      );
    throw err;
  }
  try {
    if (!fstatSync(fd).isFile())
      throw new SwitchyardError('SY_ERR_AGENT', `refusing to read ${path}: it is not a regular file`);
    return readFileSync(fd, 'utf8');
  } finally {
    closeSync(fd);
  }
}
