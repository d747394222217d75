import { haproxyTarget } from './haproxy/index.js';
import { pgbouncerTarget } from './pgbouncer.js';
import { pgcatTarget } from './pgcat.js';
import type { TargetFactory } from './registry.js';
import { vipTarget } from './vip.js';

/** Every routing layer the router knows, by its key under `targets:` in router.yml. */
export const TARGET_FACTORIES: readonly TargetFactory<never>[] = [
  haproxyTarget as TargetFactory<never>,
  pgbouncerTarget as TargetFactory<never>,
  pgcatTarget as TargetFactory<never>,
  vipTarget as TargetFactory<never>,
];

export type { Target, RouteSnapshot, ApplyResult, TargetContext, DcsHealth } from './types.js';
export type { TargetFactory, TargetCreateContext } from './registry.js';
