import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A CommonJS dependency loaded on first use: a router whose config never needs it (pg without the SQL
 * probe or a pooler, handlebars without a rendered file, etcd3 on etcd's v2 API) never pays for its code
 * in memory or startup time. Synchronous, so callers keep their signatures.
 */
export function lazyModule<T>(id: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(id) as T);
}
