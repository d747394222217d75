import * as fs from 'node:fs';
import { SwitchyardError } from '../../src/errors.js';
import type { FileOwner } from './safe-write.js';

function notOwned(dataDir: string, uid: number, owner: FileOwner): SwitchyardError {
  return new SwitchyardError(
    'SY_ERR_AGENT',
    `refusing to use ${dataDir}: it is owned by uid ${uid}, expected uid ${owner.uid} (the PostgreSQL OS user); is it a symlink to another directory?`,
  );
}

/**
 * Creates the data directory (0700) when missing and makes it the PostgreSQL OS user's. As root, only a
 * directory the agent created in this call is chowned, through its descriptor after checking it is that
 * very directory: a data directory path swapped for a symlink to, say, /etc is refused, never chowned.
 */
export function prepareDataDir(dataDir: string, owner: FileOwner | null): void {
  let isCreated = false;
  if (!fs.existsSync(dataDir)) {
    try {
      fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      isCreated = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const fd = fs.openSync(dataDir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try {
    const st = fs.fstatSync(fd);
    if (owner && st.uid !== owner.uid) {
      const link = fs.lstatSync(dataDir);
      const isSame = !link.isSymbolicLink() && link.ino === st.ino && link.dev === st.dev;
      if (!(isCreated && st.uid === 0 && isSame)) throw notOwned(dataDir, st.uid, owner);
      fs.fchownSync(fd, owner.uid, owner.gid);
    }
    fs.fchmodSync(fd, 0o700);
  } finally {
    fs.closeSync(fd);
  }
}

/** As root: throws unless the data directory (symlinks resolved) belongs to the PostgreSQL OS user. */
export function assertOwnedDataDir(dataDir: string, owner: FileOwner | null): void {
  if (!owner) return;
  const st = fs.statSync(dataDir);
  if (st.uid !== owner.uid) throw notOwned(dataDir, st.uid, owner);
}
