// Where a router's memory goes, by module: imports the pieces a 1-cluster HAProxy router loads, one step
// at a time, each row the median of three fresh plain-JavaScript node processes, and prints the RSS and V8 heap after a
// full GC (cumulative: each row includes every row above it). Run against a build (bench/startup/run.ts
// makes them under .tmp/startup-bench-*), e.g.
//   node bench/startup/modules.ts .tmp/startup-bench-candidate/dist
import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const build = resolve(process.argv[2] ?? '.tmp/startup-bench-candidate/dist');
const ours = (path: string) => pathToFileURL(`${build}/${path}`).href;

/** Each step: a label and the specifiers it imports (npm packages resolve from the repository). */
const STEPS: Array<[string, string[]]> = [
  ['node itself (empty script)', []],
  ['node:http server + client', ['node:http']],
  ['pino (log)', ['pino']],
  ['zod + yaml + our config schema', [ours('src/config/router.js')]],
  ['prom-client (metrics)', ['prom-client']],
  ['chokidar (config watch)', ['chokidar']],
  ['handlebars (file rendering)', ['handlebars']],
  ['undici (REST probe, etcd v2)', ['undici']],
  ['etcd3 + @grpc/grpc-js + protobufjs', ['etcd3']],
  ['our router (start.js, all targets)', [ours('src/router/start.js')]],
];

/** Imports `specifiers` in a fresh plain-JavaScript node (no type stripping, no tsx), then GCs and measures. */
function measure(specifiers: string[]): { rss: number; heapUsed: number; external: number } {
  const code = `${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join('\n')}
globalThis.gc(); await new Promise((r) => setTimeout(r, 100)); globalThis.gc();
const m = process.memoryUsage();
process.stdout.write(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external }));`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], {
    cwd: fileURLToPath(new URL('../../', import.meta.url)),
    encoding: 'utf8',
    timeout: 60_000,
  });
  return JSON.parse(out) as { rss: number; heapUsed: number; external: number };
}

const MB = 1048576;
const rows: string[] = [];
const loaded: string[] = [];
let previous = 0;
for (const [label, specifiers] of STEPS) {
  loaded.push(...specifiers);
  // Median of three fresh processes per row: RSS of one process moves by a few MB with allocator timing.
  const runs = [measure(loaded), measure(loaded), measure(loaded)].sort((a, b) => a.rss - b.rss);
  const m = runs[1] as { rss: number; heapUsed: number; external: number };
  rows.push(
    `| ${label} | ${(m.rss / MB).toFixed(1)} | +${((m.rss - previous) / MB).toFixed(1)} | ${(m.heapUsed / MB).toFixed(1)} | ${(m.external / MB).toFixed(1)} |`,
  );
  previous = m.rss;
}
process.stdout.write(
  `| step (cumulative) | RSS MB | Δ RSS MB | V8 heap used MB | external MB |\n| --- | --- | --- | --- | --- |\n${rows.join('\n')}\n`,
);
