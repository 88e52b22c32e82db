-- The audit trail: one row per decision the gateway takes on a call, read, get or denial.
-- Arguments and results are stored only as policy allows (never secrets); see docs/.
CREATE TABLE IF NOT EXISTS audit_events (
  id TEXT PRIMARY KEY,
  at INTEGER NOT NULL,               -- Unix ms
  tenant TEXT NOT NULL,
  principal TEXT NOT NULL,
  client_name TEXT,
  session_id TEXT,
  request_id TEXT,
  method TEXT NOT NULL,
  backend TEXT,
  item TEXT,                         -- tool, prompt or resource as the backend knows it
  decision TEXT NOT NULL,            -- allow | deny
  policy_version INTEGER,
  latency_ms INTEGER,
  outcome TEXT NOT NULL,             -- ok | error | denied | timeout
  detail TEXT                        -- JSON, only what policy allows
);
CREATE INDEX IF NOT EXISTS audit_by_tenant_time ON audit_events (tenant, at DESC);
CREATE INDEX IF NOT EXISTS audit_by_session ON audit_events (session_id, at);
