/** Test harness: real etcd, Patroni/PostgreSQL, HAProxy and PgBouncer on loopback, always cleaned up. See README.md. */
export { freePort, freePorts } from './ports.js';
export { waitFor, sleep, WaitTimeoutError, type WaitOptions } from './wait.js';
export { run, CommandError, type RunOptions, type RunResult } from './exec.js';
export { httpRequest, type HttpResult } from './http.js';
export { loopbackClient, sqlQuery, type SqlTarget } from './sql.js';
export {
  ProcessGroup,
  TEMP_PREFIX,
  isAlive,
  postgresUser,
  postmasterPid,
  reapOrphans,
  signalTree,
  tailFile,
  type ManagedProcess,
  type OsUser,
  type SpawnSpec,
} from './processes.js';
export { listensOn, procStartTime } from './pids.js';
export { makeCertificates, type TestCertificates } from './tls.js';
export {
  startEtcd,
  etcdForFile,
  type EtcdCluster,
  type EtcdClientTls,
  type EtcdMember,
  type EtcdOptions,
} from './etcd.js';
export {
  startPatroniCluster,
  PATRONI_REPLICATION,
  PATRONI_SUPERUSER,
  type PatroniCluster,
  type PatroniClusterOptions,
  type PatroniMember,
  type PatroniNode,
} from './patroni.js';
export {
  startHaproxy,
  haproxyCheck,
  haproxyCommand,
  routerHaproxyTarget,
  haproxyTargetFiles,
  startPollingHaproxy,
  LAB_HAPROXY_SETTINGS,
  parseShowProc,
  patroniHaproxyConfig,
  type HaproxyCheckResult,
  type HaproxyInstance,
  type HaproxyOptions,
  type HaproxyProc,
  type PatroniHaproxyConfigOptions,
} from './haproxy.js';
export { startPgbouncer, type PgbouncerInstance, type PgbouncerOptions } from './pgbouncer.js';
export { startPostgres, type PostgresOptions, type PostgresServer } from './postgres.js';
