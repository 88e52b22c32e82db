-- The actor chain on every audit row (who acted, through which agent, with which credential
-- upstream) and the trace it belongs to; docs/observability.md "The audit trail".
ALTER TABLE audit_events ADD COLUMN agent TEXT;       -- the OAuth client acting for the user (gateway client_id, else the token's azp / client_id)
ALTER TABLE audit_events ADD COLUMN actor TEXT;       -- RFC 8693 act.sub: who acts for the subject, when the token says so
ALTER TABLE audit_events ADD COLUMN credential TEXT;  -- none | static | client_credentials | token_exchange (upstream)
ALTER TABLE audit_events ADD COLUMN trace_id TEXT;    -- W3C trace id of the request
CREATE INDEX IF NOT EXISTS audit_by_trace ON audit_events (trace_id);
