/**
 * What the fault backends' error answers carry that must never reach a client: a stack trace, a
 * file path, a driver error and a password (faultServer.ts sends them with every HTTP 500).
 */
export const UPSTREAM_INTERNALS_TEXT = [
  "Traceback (most recent call last)",
  "/srv/backend/app.py",
  "psycopg2.OperationalError",
  "DB_PASSWORD=hunter2-internal",
] as const;
