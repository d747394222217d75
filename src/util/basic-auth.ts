/**
 * The `Authorization` header value of HTTP basic auth (Patroni's REST API, etcd v2): built here and
 * nowhere else. A missing password is sent as empty, like Patroni.
 */
export function basicAuthHeader(auth: { username: string; password?: string | undefined }): string {
  return `Basic ${Buffer.from(`${auth.username}:${auth.password ?? ''}`).toString('base64')}`;
}
