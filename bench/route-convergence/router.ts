import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { ProcessGroup, run, type ManagedProcess } from '../../test/harness/index.js';
import { ROOT, startRouterProcess, type RouterLaunch } from '../../test/harness/router.js';

/** Where the bench unpacks the committed source and compiles it (no tsx loader, as `npx switchyard` runs). */
const SOURCE_DIR = `${ROOT}.tmp/route-bench-src`;
export const BUILD_DIR = `${SOURCE_DIR}/dist`;

/**
 * Compiles the router at `HEAD` (or `revision`; git archive of src/, agent/, templates/ and the tsconfigs, so work in
 * progress in the working tree can neither break nor flatter the run) into {@link BUILD_DIR}. Returns
 * the commit, any type errors (tsc emits anyway) and the build directory. `sourceDir` lets two benches
 * build side by side.
 */
export async function buildRouter(
  sourceDir = SOURCE_DIR,
  revision = 'HEAD',
): Promise<{ commit: string; typeErrors: string; buildDir: string }> {
  const SOURCE_DIR = sourceDir;
  const BUILD_DIR = `${sourceDir}/dist`;
  const commit = (await run('git', ['rev-parse', revision], { cwd: ROOT })).stdout.trim();
  rmSync(SOURCE_DIR, { recursive: true, force: true });
  mkdirSync(SOURCE_DIR, { recursive: true });
  const paths = ['src', 'agent', 'templates', 'tsconfig.json', 'tsconfig.build.json', 'package.json'];
  await run('sh', ['-c', `git archive ${commit} ${paths.join(' ')} | tar -x -C ${SOURCE_DIR}`], {
    cwd: ROOT,
    timeoutMs: 60_000,
  });
  symlinkSync(`${ROOT}node_modules`, `${SOURCE_DIR}/node_modules`);
  const result = await run(
    process.execPath,
    [`${ROOT}node_modules/typescript/bin/tsc`, '-p', `${SOURCE_DIR}/tsconfig.build.json`],
    {
      cwd: SOURCE_DIR,
      timeoutMs: 600_000,
      reject: false,
    },
  );
  if (!existsSync(`${BUILD_DIR}/src/cli/run.js`))
    throw new Error(`build produced no ${BUILD_DIR}/src/cli/run.js: ${result.stdout}`);
  return { commit, typeErrors: result.exitCode === 0 ? '' : result.stdout.trim(), buildDir: BUILD_DIR };
}

/** How the harness launches the router from the compiled build in `buildDir` (no tsx). */
export function compiledRouterLaunch(buildDir: string): RouterLaunch {
  return {
    entry: `${buildDir}/src/cli/run.js`,
    // SY_BENCH_ROUTER_NODE_ARGS: extra node flags for the router, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    nodeArgs: (process.env['SY_BENCH_ROUTER_NODE_ARGS'] ?? '').split(' ').filter(Boolean),
    env: {},
    timeoutMs: 30_000,
  };
}

/**
 * Runs `switchyard route` from the compiled build in a child process of `group` (so its pid gives
 * /proc figures, and it is killed by pid at cleanup). Resolves once /status answers.
 */
export async function startCompiledRouter(
  buildDir: string,
  group: ProcessGroup,
  name: string,
  config: object,
): Promise<{ proc: ManagedProcess; api: string; configPath: string }> {
  return startRouterProcess(group, name, config, compiledRouterLaunch(buildDir));
}
