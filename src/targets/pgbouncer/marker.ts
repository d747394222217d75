import { hostname } from 'node:os';
import { readFile, rm, writeFile, rename } from 'node:fs/promises';
import { z } from 'zod';

/**
 * The note `switchyard switchover` leaves next to the routing file while it holds databases paused, so
 * that a running router does not resume them under it — and does resume them as soon as the note is
 * stale (its process is gone, or its deadline passed). This is how a switchover killed with -9 never
 * leaves PgBouncer paused while a router runs on the same host.
 */
export interface PauseMarker {
  readonly pid: number;
  readonly host: string;
  readonly cluster: string;
  readonly databases: readonly string[];
  /** Epoch ms after which the pause is stale whatever the process says. */
  readonly deadlineAt: number;
  /** The leader the switchover moves away from (absent in markers of older versions). */
  readonly from?: string | undefined;
}

const MarkerSchema = z.object({
  pid: z.number().int().positive(),
  host: z.string(),
  cluster: z.string(),
  databases: z.array(z.string()),
  deadlineAt: z.number(),
  from: z.string().optional(),
});

export function markerPath(output: string): string {
  return `${output}.switchover.json`;
}

export async function writeMarker(output: string, marker: Omit<PauseMarker, 'pid' | 'host'>): Promise<void> {
  const path = markerPath(output);
  const staged = `${path}.${process.pid}.tmp`;
  await writeFile(staged, JSON.stringify({ pid: process.pid, host: hostname(), ...marker }), { mode: 0o600 });
  await rename(staged, path);
}

export async function removeMarker(output: string): Promise<void> {
  await rm(markerPath(output), { force: true });
}

export async function readMarker(output: string): Promise<PauseMarker | null> {
  try {
    const parsed = MarkerSchema.safeParse(JSON.parse(await readFile(markerPath(output), 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether this very process wrote the marker (`switchyard switchover`'s own target reads it too). */
export function isOwnMarker(marker: PauseMarker): boolean {
  return marker.pid === process.pid && marker.host === hostname();
}

/** True while the marker still protects `db`: its process lives (same host) and its deadline is ahead. */
export function isMarkerLive(marker: PauseMarker | null, db: string, now: number): boolean {
  if (!marker || !marker.databases.includes(db) || now >= marker.deadlineAt) return false;
  return marker.host !== hostname() || isAlive(marker.pid);
}
