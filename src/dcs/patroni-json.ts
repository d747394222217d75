/**
 * JSON exactly as Patroni's Python writes it: `json.dumps(v, separators=(',', ':'))` (compact: member,
 * status, history, sync, failsafe) or plain `json.dumps(v)` (`", "` and `": "`: the `config` key). Python
 * escapes non-ASCII (`ensure_ascii`), so byte-compatible values need the same escapes.
 */
export function pythonJson(value: unknown, compact = true): string {
  const item = compact ? ',' : ', ';
  const colon = compact ? ':' : ': ';
  const out = (v: unknown): string => {
    if (v === null || v === undefined) return 'null';
    if (typeof v === 'string')
      return JSON.stringify(v).replace(
        /[\u007f-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      );
    if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
    if (typeof v === 'boolean') return v ? 'true' : 'false';
    if (Array.isArray(v)) return `[${v.map(out).join(item)}]`;
    if (typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined);
      return `{${entries.map(([k, x]) => `${out(k)}${colon}${out(x)}`).join(item)}}`;
    }
    return 'null';
  };
  return out(value);
}
