// Preload (`node --import ./test/support/loopback.mjs ...`) that pins every
// TCP listen() in the process to 127.0.0.1.
//
// Why: tests start third-party servers we cannot configure, e.g.
// @modelcontextprotocol/server-everything, whose Express app calls
// `app.listen(PORT)` and would therefore accept connections on all
// interfaces. Test backends must never be reachable from the network, so we
// rewrite the host at the one place every TCP server goes through
// (http.Server and https.Server inherit net.Server.prototype.listen).
// IPC listens (a pipe/socket path, an fd or an existing handle) are left alone.

import net from "node:net";

const LOOPBACK = "127.0.0.1";
const originalListen = net.Server.prototype.listen;

/** Same rule Node uses: a string that is not a number is a pipe path. */
function isPort(value) {
  if (typeof value === "number") return true;
  return typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value));
}

function isIpcOrHandle(options) {
  return "path" in options || "fd" in options || "_handle" in options || "handle" in options;
}

net.Server.prototype.listen = function listenOnLoopback(...args) {
  const [first] = args;
  // HTTP servers keep idle connections until the client closes them: the gateway (workerd) pools
  // and reuses them, and Node's default 5 s idle close races that reuse ("Network connection
  // lost" now and then; docs/reliability.md, "Findings").
  if (typeof this.keepAliveTimeout === "number") this.keepAliveTimeout = 0;

  // listen() / listen(cb): Node would pick a random port on all interfaces.
  if (first === undefined || typeof first === "function") {
    return originalListen.call(this, { port: 0, host: LOOPBACK }, ...args.filter((a) => typeof a === "function"));
  }

  // listen({ port, host, backlog, ... }[, cb])
  if (typeof first === "object" && first !== null) {
    if (isIpcOrHandle(first)) return originalListen.apply(this, args);
    return originalListen.call(this, { ...first, host: LOOPBACK }, ...args.slice(1));
  }

  // listen(port[, host][, backlog][, cb]): rebuild as the options form so the
  // optional middle arguments cannot be misread.
  if (isPort(first)) {
    const rest = args.slice(1);
    const options = { port: Number(first), host: LOOPBACK };
    if (typeof rest[0] === "string") rest.shift(); // caller's host, overridden
    if (typeof rest[0] === "number") options.backlog = rest.shift();
    const callback = rest.find((a) => typeof a === "function");
    return callback ? originalListen.call(this, options, callback) : originalListen.call(this, options);
  }

  // listen(path[, backlog][, cb]): a pipe / unix socket, not TCP.
  return originalListen.apply(this, args);
};
