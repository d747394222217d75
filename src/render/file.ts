import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm, chmod, chown, copyFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SwitchyardError, describeError } from '../errors.js';
import { runCommand } from './command.js';

export interface RenderInput {
  /** The live file. Its directory must exist. */
  path: string;
  contents: string;
  /** 0o600 for files holding secrets. Default 0o644. */
  mode?: number;
  /** Owner of the written file, set on the staged file before the rename (no window where the reader lacks access). */
  owner?: FileOwnerIds | null | undefined;
  /** Shell command validating the staged file; `{{file}}` is replaced by its path. */
  check?: string | undefined;
  checkTimeoutMs?: number;
  /** Keep the previous file as `<path>.bak` (used for rollback). Default true. */
  isBackupKept?: boolean;
}

export interface FileOwnerIds {
  readonly uid: number;
  readonly gid: number;
}

export interface RenderResult {
  path: string;
  /** The live file was replaced. */
  didRender: boolean;
  /** The contents differ from the live file (true in dry runs too). */
  wouldRender: boolean;
  /** The live contents before this call, or null when the file did not exist. */
  previous: string | null;
}

/**
 * Writes `contents` to `path` atomically, consul-template style: equal bytes → no write; otherwise a temp
 * file in the same directory is written, chmod'ed and chown'ed (`owner`), validated by `check`, fsync'ed
 * and renamed over the live file, so the file is readable by its reader from the moment it is live (atomic on POSIX filesystems; the directory is fsync'ed too). A failed check leaves the live
 * file untouched and throws SY_ERR_RENDER_INVALID. With `dryRun` nothing is written.
 */
export async function renderFile(
  input: RenderInput,
  options: { dryRun?: boolean } = {},
): Promise<RenderResult> {
  const previous = await readIfExists(input.path);
  const wouldRender = previous !== input.contents;
  if (!wouldRender || options.dryRun) {
    if (!wouldRender && input.mode !== undefined) await ensureMode(input.path, input.mode);
    if (!wouldRender && input.owner) await ensureOwner(input.path, input.owner);
    return { path: input.path, didRender: false, wouldRender, previous };
  }
  const staged = join(dirname(input.path), `.${basename(input.path)}.${randomBytes(4).toString('hex')}.tmp`);
  try {
    await writeSynced(staged, input.contents, input.mode ?? 0o644);
    if (input.owner) await chown(staged, input.owner.uid, input.owner.gid);
    if (input.check) {
      try {
        await runCommand(input.check, {
          file: staged,
          timeoutMs: input.checkTimeoutMs ?? 10_000,
          purpose: 'check',
        });
      } catch (err) {
        throw new SwitchyardError(
          'SY_ERR_RENDER_INVALID',
          `${input.path}: staged file failed validation; kept the live file. ${describeError(err)}`,
          {
            cause: err,
          },
        );
      }
    }
    if (previous !== null && input.isBackupKept !== false) {
      await copyFile(input.path, `${input.path}.bak`);
      if (input.owner) await chown(`${input.path}.bak`, input.owner.uid, input.owner.gid);
    }
    await rename(staged, input.path);
    await fsyncDir(dirname(input.path));
  } catch (err) {
    await rm(staged, { force: true });
    if (err instanceof SwitchyardError) throw err;
    throw new SwitchyardError('SY_ERR_RENDER_WRITE', `cannot write ${input.path}: ${describeError(err)}`, {
      cause: err,
    });
  }
  return { path: input.path, didRender: true, wouldRender, previous };
}

/** Puts `<path>.bak` back in place (atomically). Returns false when there is no backup. */
export async function restoreBackup(path: string): Promise<boolean> {
  const backup = await readIfExists(`${path}.bak`);
  if (backup === null) return false;
  const info = await stat(`${path}.bak`);
  await renderFile({
    path,
    contents: backup,
    mode: info.mode & 0o777,
    owner: { uid: info.uid, gid: info.gid },
    isBackupKept: false,
  });
  return true;
}

export async function readIfExists(path: string): Promise<string | null> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SwitchyardError('SY_ERR_RENDER_WRITE', `cannot read ${path}: ${describeError(err)}`, {
      cause: err,
    });
  }
}

async function writeSynced(path: string, contents: string, mode: number): Promise<void> {
  const handle = await open(path, 'wx', mode);
  try {
    await handle.chmod(mode); // umask may have narrowed the mode given to open
    await handle.writeFile(contents, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function ensureMode(path: string, mode: number): Promise<void> {
  const current = (await stat(path)).mode & 0o777;
  if (current !== mode) await chmod(path, mode);
}

async function ensureOwner(path: string, owner: FileOwnerIds): Promise<void> {
  const current = await stat(path);
  if (current.uid !== owner.uid || current.gid !== owner.gid) await chown(path, owner.uid, owner.gid);
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
