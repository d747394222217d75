/** `0/3000060` → bytes. Returns null for anything else. */
export function parseLsn(text: string | null | undefined): number | null {
  if (!text) return null;
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) return null;
  return parseInt(m[1] as string, 16) * 0x1_0000_0000 + parseInt(m[2] as string, 16);
}

/** Bytes → `0/3000060`. */
export function formatLsn(bytes: number): string {
  const hi = Math.floor(bytes / 0x1_0000_0000);
  const lo = bytes % 0x1_0000_0000;
  return `${hi.toString(16).toUpperCase()}/${lo.toString(16).toUpperCase()}`;
}

export interface ControlData {
  readonly state: string;
  readonly systemId: string | null;
  readonly timeline: number | null;
  readonly checkpointLsn: number | null;
  /** End of WAL known to the control file: max(checkpoint, minimum recovery end). */
  readonly walPosition: number | null;
}

/** Parses `pg_controldata` output (C locale). */
export function parseControlData(text: string): ControlData {
  const field = (name: string) => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}:`));
    return line ? line.slice(name.length + 1).trim() : null;
  };
  const checkpoint = parseLsn(field('Latest checkpoint location'));
  const minRecovery = parseLsn(field('Minimum recovery ending location'));
  const tl = field("Latest checkpoint's TimeLineID");
  const minTl = field("Min recovery ending loc's timeline");
  const timeline = Math.max(Number(tl ?? 0), Number(minTl ?? 0)) || null;
  return {
    state: field('Database cluster state') ?? 'unknown',
    systemId: field('Database system identifier'),
    timeline,
    checkpointLsn: checkpoint,
    walPosition: Math.max(checkpoint ?? 0, minRecovery ?? 0) || null,
  };
}

/** Timeline history file (`00000003.history`) lines: `1\t0/3000060\tno recovery target specified`. */
export function parseTimelineHistory(text: string): { timeline: number; lsn: number; reason: string }[] {
  const out: { timeline: number; lsn: number; reason: string }[] = [];
  for (const line of text.split('\n')) {
    const parts = line.trim().split('\t');
    if (parts.length < 2 || !/^\d+$/.test(parts[0] as string)) continue;
    const lsn = parseLsn(parts[1]);
    if (lsn === null) continue;
    out.push({ timeline: Number(parts[0]), lsn, reason: (parts[2] ?? '').trim() });
  }
  return out;
}
