#!/usr/bin/env node
// Drives tests/node/signalr_server.js with Microsoft's official client `@microsoft/signalr` to prove the
// fixture speaks the protocol that client speaks: negotiate (v1, connectionToken), the WebSocket transport,
// the JSON handshake, an invocation with a completion, a hub error, a server-to-client invocation, and
// staying connected for --hold-ms with short keep-alive/timeout settings on both sides (the client's
// serverTimeoutInMilliseconds fires unless the server pings; the server's client timeout fires unless the
// client pings). Then, with --expect-close, it waits for the server's close message (the `close` stdin
// command) and reports the error the client got. Prints one JSON line; exit 0, or 1 with {"error": ...}.
'use strict';
const signalR = require('@microsoft/signalr');
const { arg } = require('./peer_common');

const url = arg('url', 'http://127.0.0.1:5000/hub');
const holdMs = parseInt(arg('hold-ms', '0'), 10);
const keepAliveMs = parseInt(arg('keep-alive-ms', '15000'), 10);
const serverTimeoutMs = parseInt(arg('server-timeout-ms', '30000'), 10);
const skipNegotiation = process.argv.includes('--skip-negotiation');
const expectClose = process.argv.includes('--expect-close');
const out = { connected: false, connectionId: null, echo: null, hub_error: null, broadcast: null, closed: null };
const done = (code, error) => {
  if (error) out.error = String(error);
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(code);
};
setTimeout(() => done(1, 'timed out'), holdMs + 15000).unref();

const conn = new signalR.HubConnectionBuilder()
  .withUrl(url, { transport: signalR.HttpTransportType.WebSockets, skipNegotiation })
  .configureLogging(signalR.LogLevel.None)
  .build();
conn.keepAliveIntervalInMilliseconds = keepAliveMs;
conn.serverTimeoutInMilliseconds = serverTimeoutMs;
conn.on('broadcast', (...args) => { out.broadcast = args; });
let closeWaiter = null;
conn.onclose((err) => {
  out.closed = err ? String(err.message || err) : 'no error';
  if (closeWaiter) closeWaiter();
});

(async () => {
  try {
    await conn.start();
    out.connected = true;
    out.connectionId = conn.connectionId;
    out.echo = await conn.invoke('Echo', 'hello', 2);
    try {
      await conn.invoke('Throw', 'boom');
    } catch (e) {
      out.hub_error = String(e.message);
    }
    await conn.invoke('Broadcast', 'to-all');
    await new Promise((r) => setTimeout(r, holdMs));
    out.state_after_hold = conn.state;
    out.echo_after_hold = await conn.invoke('Echo', 'after-hold');
    if (expectClose) {
      process.stdout.write('{"ev":"waiting_close"}\n');
      await new Promise((r) => { closeWaiter = r; });
    } else {
      await conn.stop();
    }
    done(0);
  } catch (e) {
    done(1, e && e.message ? e.message : e);
  }
})();
