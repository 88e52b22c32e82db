/** Worker entry: the HTTP app and the Durable Object classes wrangler.toml binds. */
import { app } from "./app.ts";

export { SessionObject } from "../durable-objects/session/SessionObject.ts";

export default app;
