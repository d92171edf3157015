#!/usr/bin/env node
// A WebSocket server on the `ws` package, an independent peer for wsfleet's tests.
// Prints `READY <port>` once listening, then one JSON line per event (like tests/lib/servers/py_peer.py):
//   {"ev":"connect","id":n,"t":mono,"path":...}  {"ev":"message","id":n,"type":"text"|"binary","len":n,"data":...}
//   (binary data: hex of the first 256 bytes)
//   {"ev":"ping","id":n,"data":...}  {"ev":"closed","id":n,"code":c,"reason":r}
// `t` is seconds on CLOCK_MONOTONIC (process.hrtime), comparable with Python's time.monotonic().
// Modes: echo (default: every message sent back as it came), sink (record only),
//        close_after (close with --close-code/--close-reason after --after messages).
// Recording every message is off with --quiet (for scale tests). Exits when stdin closes.
'use strict';
const { WebSocketServer } = require('ws');
const { arg, emit } = require('./peer_common');

const mode = arg('mode', 'echo');
const port = parseInt(arg('port', '0'), 10);
const host = arg('host', '127.0.0.1');
const after = parseInt(arg('after', '1'), 10);
const closeCode = parseInt(arg('close-code', '1000'), 10);
const closeReason = arg('close-reason', '');
const quiet = process.argv.includes('--quiet');
if (!['echo', 'sink', 'close_after'].includes(mode)) {
  process.stderr.write(`unknown mode ${mode}\n`);
  process.exit(2);
}

let nextId = 0;
const wss = new WebSocketServer({ host, port, maxPayload: 64 * 1024 * 1024, perMessageDeflate: false });
wss.on('connection', (ws, req) => {
  const id = ++nextId;
  let count = 0;
  if (!quiet) emit({ ev: 'connect', id, path: req.url, headers: req.headers });
  ws.on('message', (data, isBinary) => {
    count++;
    if (!quiet) {
      emit({ ev: 'message', id, type: isBinary ? 'binary' : 'text', len: data.length,
             data: isBinary ? data.subarray(0, 256).toString('hex') : data.toString('utf8') });
    }
    if (mode === 'echo') ws.send(data, { binary: isBinary });
    else if (mode === 'close_after' && count >= after) ws.close(closeCode, closeReason);
  });
  ws.on('ping', (data) => { if (!quiet) emit({ ev: 'ping', id, data: data.toString('utf8') }); });
  ws.on('close', (code, reason) => { if (!quiet) emit({ ev: 'closed', id, code, reason: reason.toString() }); });
  ws.on('error', (err) => emit({ ev: 'error', id, error: String(err) }));
});
wss.on('listening', () => process.stdout.write(`READY ${wss.address().port}\n`));
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
setTimeout(() => process.exit(0), parseFloat(arg('max-seconds', '900')) * 1000).unref();
