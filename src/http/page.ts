import type { RouterStatus } from '../router/router.js';
import { leaderNote, type ClusterStatusRead } from '../router/status.js';

/** Escapes text for HTML element content and attribute values. DCS values are untrusted input. */
export function escapeHtml(value: unknown): string {
  return String(value ?? '').replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c,
  );
}

const ms = (v: number | null | undefined) => (v === null || v === undefined ? '—' : `${v} ms`);

function table(headers: string[], rows: string[][], empty: string): string {
  if (rows.length === 0) return `<p class="empty">${escapeHtml(empty)}</p>`;
  const head = headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('');
  // Cells arrive escaped (some carry markup of our own).
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('\n');
  return `<table><thead><tr>${head}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

/** The `<main>` part of the status page: what the refresh script swaps in every second. */
export function renderStatusMain(s: RouterStatus): string {
  const e = escapeHtml;
  const health = s.healthy
    ? '<span class="ok">healthy</span>'
    : `<span class="bad">UNHEALTHY</span><ul>${s.reasons.map((r) => `<li>${e(r)}</li>`).join('')}</ul>`;
  const dcs = s.dcs.connected
    ? `etcd connected, revision ${e(s.dcs.revision)}, last contact ${e(s.dcs.seconds_since_contact)} s ago`
    : `<span class="bad">etcd unreachable</span>: ${e(s.dcs.last_error ?? 'no read yet')}`;
  const clusters = Object.entries(s.clusters as Record<string, ClusterStatusRead>).sort(([a], [b]) =>
    a.localeCompare(b),
  );
  const clusterParts = clusters.map(([scope, c]) => {
    const leader = c.leader
      ? `${e(c.leader)} ${c.health === 'lost' ? '<span class="bad">lost</span>' : c.writable ? '<span class="ok">writable</span>' : '<span class="bad">not writable</span>'}${leaderNote(c) ? ` (${e(leaderNote(c))})` : ''}`
      : '<span class="bad">no leader key</span>';
    const nodes = table(
      ['Member', 'Role', 'State', 'Address', 'Lag'],
      (c.nodes ?? []).map((n) => [
        n.name === c.leader ? `<b>${e(n.name)}</b>` : e(n.name),
        e(n.role),
        e(n.state),
        e(`${n.host}:${n.port}`),
        n.lag_bytes === null ? '—' : `${e(n.lag_bytes)} B`,
      ]),
      'no members',
    );
    const invalid = c.invalid.length
      ? `<p class="bad">ignored values: ${c.invalid.map((i) => `${e(i.key)} (${e(i.reason)})`).join('; ')}</p>`
      : '';
    return `<section class="cluster" data-cluster="${e(scope)}"><h2>${e(scope)}</h2>
<p>Leader: <span class="leader">${leader}</span> · writes to ${e(c.writer ?? 'nothing')} · reads: ${e(c.replicas.join(', ') || 'none')} · generation ${e(c.generation)}</p>
${nodes}${invalid}</section>`;
  });
  const targets = table(
    ['Target', 'Kind', 'Applied generation', 'Last apply', 'Last', 'Error'],
    Object.entries(s.targets).map(([name, t]) => [
      e(name),
      e(t.kind),
      t.applied_generation >= s.generation
        ? `${e(t.applied_generation)}`
        : `<span class="bad">${e(t.applied_generation)} of ${e(s.generation)}</span>`,
      t.last_apply_ms === null ? '—' : `${t.last_apply_ms.toFixed(1)} ms`,
      e(t.last_summary ?? ''),
      t.last_error ? `<span class="bad">${e(t.last_error)}</span>` : '',
    ]),
    'no targets',
  );
  const targetNames = Object.keys(s.targets);
  const timeline = table(
    ['When', 'Cluster', 'Change', 'Writable', ...targetNames.map((t) => `${t} routed`), 'Every target'],
    s.timeline.map((t) => [
      e(t.key_changed_at.replace('T', ' ').replace('Z', ' UTC')),
      e(t.cluster),
      `${e(t.from ?? '(none)')} → <b>${e(t.to ?? '(none)')}</b>`,
      ms(t.writable_ms),
      ...targetNames.map((n) => ms(t.applied_ms[n])),
      ms(t.all_applied_ms),
    ]),
    'no leader change since the router started',
  );
  return `<main>
<p class="health">Router: ${health} · ${dcs} · generation ${e(s.generation)}</p>
<p class="last">Last: ${e(s.last)}</p>
${clusterParts.join('\n') || '<p class="empty">no cluster keys read yet</p>'}
<h2>Targets</h2>
${targets}
<h2>Leader changes</h2>
<p class="note">Times after the router read the new leader key.</p>
${timeline}
</main>`;
}

/** The whole page: server-rendered, with a small script that swaps `<main>` every second. */
export function renderStatusPage(s: RouterStatus): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Switchyard router</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { font-size: 1.4em; margin: 0 0 .5em; } h2 { font-size: 1.1em; margin: 1.2em 0 .4em; }
table { border-collapse: collapse; margin: .3em 0; } th, td { border: 1px solid #ccc; padding: .25em .6em; text-align: left; }
th { background: #f3f3f3; } .ok { color: #176f2c; font-weight: 600; } .bad { color: #b00020; font-weight: 600; }
.empty, .note { color: #666; } section.cluster { border-left: 4px solid #2b6cb0; padding-left: .8em; }
</style></head>
<body><h1>Switchyard router</h1>
${renderStatusMain(s)}
<script>
// Refreshes the page body once a second from the same server-rendered HTML (no build chain).
setInterval(async () => {
  try {
    const res = await fetch('/?part=main', { cache: 'no-store' });
    if (res.ok) document.querySelector('main').outerHTML = await res.text();
  } catch {}
}, 1000);
</script>
</body></html>
`;
}
