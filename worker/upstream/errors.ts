/**
 * What can go wrong talking to a backend. The DO turns these into the client-facing
 * `backend_unavailable` / `backend_timeout` errors and a log line; the precise text stays in logs.
 */
export type UpstreamErrorKind =
  | "unreachable"
  | "timeout"
  | "http_status"
  | "bad_response"
  | "session_expired"
  | "cancelled"
  /**
   * A tunnel backend with no connector attached (worker/upstream/tunnel.ts): its object refused
   * at once, so the next request costs no wait and may find a connector that attached since.
   */
  | "no_connector"
  /** Not attempted: the session's circuit breaker for this backend is open (worker/engine/breaker.ts). */
  | "circuit_open";

/**
 * The backend acts for each user (`auth.type: "user_oauth"`) and this user has not connected
 * their account there, or their grant no longer works: the call is answered with error -32042
 * naming `url`, where they connect (worker/connections/, docs/connections.md).
 */
export class GrantRequiredError extends Error {
  readonly backend: string;
  readonly url: string;
  readonly elicitationId: string;
  constructor(backend: string, url: string, elicitationId: string) {
    super(`${backend}: the user has not connected their account`);
    this.name = "GrantRequiredError";
    this.backend = backend;
    this.url = url;
    this.elicitationId = elicitationId;
  }
}

export class UpstreamError extends Error {
  readonly kind: UpstreamErrorKind;
  readonly backend: string;
  readonly status: number | undefined;

  constructor(kind: UpstreamErrorKind, backend: string, detail: string, status?: number) {
    super(`${backend}: ${detail}`);
    this.name = "UpstreamError";
    this.kind = kind;
    this.backend = backend;
    this.status = status;
  }
}
