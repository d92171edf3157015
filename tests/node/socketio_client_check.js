#!/usr/bin/env node
// Drives tests/node/socketio_server.js with the official `socket.io-client` (4.8.x) to prove the
// fixture speaks real Socket.IO v4: connect on a namespace over the websocket transport, an event
// with an ack, a broadcast, and staying connected for --hold-ms (longer than the server's
// pingInterval + pingTimeout, so the client's pongs are what keep it). Prints one JSON line with
// what it saw and exits 0, or 1 with {"error": ...}.
//   node socketio_client_check.js --url http://127.0.0.1:PORT --namespace /chat --hold-ms 3000
'use strict';
const { io } = require('socket.io-client');
const { arg } = require('./peer_common');

const url = arg('url', 'http://127.0.0.1:3000');
const nsp = arg('namespace', '/');
const holdMs = parseInt(arg('hold-ms', '0'), 10);
const out = { connected: false, sid: null, ack: null, broadcast: null, pings: 0, disconnects: [] };
const fail = (error) => {
  process.stdout.write(JSON.stringify(Object.assign(out, { error: String(error) })) + '\n');
  process.exit(1);
};
setTimeout(() => fail('timed out'), holdMs + 10000).unref();

const socket = io(url + (nsp === '/' ? '' : nsp), { transports: ['websocket'], reconnection: false });
socket.io.on('open', () => socket.io.engine.on('ping', () => out.pings++));
socket.on('disconnect', (reason) => out.disconnects.push(reason));
socket.on('connect_error', (err) => fail('connect_error: ' + err.message));
socket.on('broadcast', (...args) => { out.broadcast = args; });
socket.on('connect', async () => {
  out.connected = true;
  out.sid = socket.id;
  try {
    out.ack = await socket.timeout(5000).emitWithAck('echo', 'hello', { n: 1 });
    await socket.timeout(5000).emitWithAck('broadcast', 'to-all');
    await new Promise((r) => setTimeout(r, holdMs));
    out.still_connected = socket.connected;
    out.ack_after_hold = await socket.timeout(5000).emitWithAck('echo', 'after-hold');
  } catch (e) {
    fail(e);
  }
  socket.disconnect();
  process.stdout.write(JSON.stringify(out) + '\n');
  process.exit(0);
});
