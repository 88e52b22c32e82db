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
  /** Not attempted: the session's circuit breaker for this backend is open (worker/engine/breaker.ts). */
  | "circuit_open";

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
