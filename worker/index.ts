/** Worker entry: the HTTP app and the Durable Object classes wrangler.toml binds. */
import { app } from "./app.ts";
import type { AuditEvent } from "./audit/audit.ts";
import { deliverAuditExports } from "./audit/export.ts";

export { SessionObject } from "../durable-objects/session/SessionObject.ts";
export { TenantObject } from "../durable-objects/tenant/TenantObject.ts";
export { RateLimiter } from "../durable-objects/ratelimit/RateLimiter.ts";
export { TenantMonitor } from "../durable-objects/monitor/TenantMonitor.ts";
export { AuthorizationObject } from "../durable-objects/oauth/AuthorizationObject.ts";
export { ApprovalObject } from "../durable-objects/approvals/ApprovalObject.ts";
export { ConnectionVault } from "../durable-objects/connections/ConnectionVault.ts";
export { TunnelObject } from "../durable-objects/tunnel/TunnelObject.ts";

export default { fetch: app.fetch, queue: deliverAuditExports } satisfies ExportedHandler<Env, AuditEvent>;
