#!/usr/bin/env node
// An ASP.NET Core SignalR hub server (JSON hub protocol over WebSockets) written on node `ws`, for the
// tests of wsfleetd's `signalr-json` preset. There is no .NET on the test machines, so this is the
// server side of the published protocol (aspnetcore: docs/specs HubProtocol.md and
// TransportProtocols.md), proved against Microsoft's own client `@microsoft/signalr` by
// tests/integration/test_preset_servers.py (negotiate, handshake, invocations, pings both ways,
// close message). What it implements:
//   POST {path}/negotiate[?negotiateVersion=1]  -> {"connectionId","connectionToken"(v1),"negotiateVersion",
//                                                 "availableTransports":[{"transport":"WebSockets",...}]}
//   GET  {path}?id=<connectionToken> (upgrade)  -> the WebSocket; an unknown id gets HTTP 404, an id used twice 409;
//                                                 without `id` (the client's skipNegotiation) a connection is made
//   handshake: the first record must be {"protocol":"json","version":1} followed by 0x1E; the answer is {}+0x1E,
//              or {"error":"..."}+0x1E and a close (unknown protocol or version, bad JSON, or nothing within
//              --handshake-timeout-ms: HandshakeTimeout, 15 s by default)
//   records: JSON + 0x1E, several per WebSocket message allowed both ways
//   type 1 Invocation: hub methods below; with an invocationId the server answers a type 3 Completion
//   type 6 Ping: the server sends {"type":6} when it has written nothing for --keep-alive-ms (KeepAliveInterval,
//              15 s); any record from the client counts as activity
//   client timeout: nothing from the client for --client-timeout-ms (ClientTimeoutInterval, 30 s) ends the
//              connection: the server writes {"type":7,"error":"Connection closed with an error.","allowReconnect":true}
//              and closes the WebSocket with 1000 (what HubConnectionHandler does when it aborts a timed-out
//              connection: a close message, then the transport ends)
//   type 7 Close from the client: the server closes the WebSocket
// Hub methods: Echo(x...) -> completion result x (the first argument); Broadcast(x...) -> an invocation
// {"type":1,"target":"broadcast","arguments":[x...]} to every connection (completion null);
// Throw(msg) -> completion error "An unexpected error occurred invoking 'Throw' on the server. HubException: msg";
// any other -> completion error "Failed to invoke 'X' due to an error on the server. HubException: Method does not exist."
//
// Prints `READY <port>` then JSON lines (quiet with --quiet except stats):
//   {"ev":"negotiate",...} {"ev":"connect","id":connectionId} {"ev":"handshake","id",..,"ok":bool}
//   {"ev":"invocation","id","target","arguments","invocationId"} {"ev":"ping","id"}
//   {"ev":"disconnect","id","reason":"client timeout"|"client close"|"transport close"|"server close"|...}
//   {"ev":"stats",...counters} on SIGUSR1, on the stdin command `stats`, and at exit.
// Commands on stdin: `stats`; `close [ERROR]` (every connection gets a type-7 close message, with ERROR when
// given, then a WebSocket close 1000); `kick` (every TCP connection destroyed, no close frame); `send TARGET
// JSON_ARGS` (an invocation to every connection); `sendmany N TARGET JSON_ARGS` (N invocations with arguments
// JSON_ARGS + [i], i = 0..N-1, in one WebSocket message, to every connection). --handshake-error TEXT answers
// every handshake with {"error":TEXT}.
'use strict';
const http = require('http');
const crypto = require('crypto');
const { WebSocketServer } = require('ws');
const { arg, emit, serveStdin } = require('./peer_common');

const port = parseInt(arg('port', '0'), 10);
const host = arg('host', '127.0.0.1');
const hubPath = arg('path', '/hub');
const keepAliveMs = parseInt(arg('keep-alive-ms', '15000'), 10);
const clientTimeoutMs = parseInt(arg('client-timeout-ms', '30000'), 10);
const handshakeTimeoutMs = parseInt(arg('handshake-timeout-ms', '15000'), 10);
const handshakeError = arg('handshake-error', null); // answer every handshake with {"error": this}
const quiet = process.argv.includes('--quiet');
const RS = '\x1e';

const log = (rec) => { if (!quiet) emit(rec); };

const counters = {
  negotiates: 0, connects: 0, handshakes_ok: 0, handshakes_failed: 0, disconnects: 0, disconnect_reasons: {},
  open: 0, max_open: 0, invocations: 0, completions: 0, pings_received: 0, pings_sent: 0, records_received: 0,
};
const stats = () => emit(Object.assign({ ev: 'stats' }, counters));

const tokens = new Map(); // connectionToken -> {connectionId, used}
const conns = new Set();
const newId = () => crypto.randomBytes(16).toString('base64url');

const httpServer = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (req.method === 'POST' && url.pathname === hubPath + '/negotiate') {
    counters.negotiates++;
    const version = parseInt(url.searchParams.get('negotiateVersion') || '0', 10) >= 1 ? 1 : 0;
    const connectionId = newId();
    const connectionToken = version === 1 ? newId() : connectionId;
    tokens.set(connectionToken, { connectionId, used: false });
    const body = { connectionId, negotiateVersion: version,
                   availableTransports: [{ transport: 'WebSockets', transferFormats: ['Text', 'Binary'] }] };
    if (version === 1) body.connectionToken = connectionToken;
    log({ ev: 'negotiate', version, connectionId });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
    return;
  }
  res.writeHead(404);
  res.end();
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
httpServer.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, 'http://x');
  const refuse = (status, text) => {
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
  };
  if (url.pathname !== hubPath) return refuse(404, 'Not Found');
  let connectionId;
  const id = url.searchParams.get('id');
  if (id !== null) {
    const entry = tokens.get(id);
    if (!entry) return refuse(404, 'Not Found');
    if (entry.used) return refuse(409, 'Conflict');
    entry.used = true;
    connectionId = entry.connectionId;
  } else {
    connectionId = newId();
  }
  wss.handleUpgrade(req, socket, head, (ws) => session(ws, connectionId));
});

function session(ws, id) {
  counters.connects++;
  counters.open++;
  counters.max_open = Math.max(counters.max_open, counters.open);
  conns.add(ws);
  log({ ev: 'connect', id });
  let handshaken = false;
  let ended = false;
  let lastReceived = Date.now();
  let lastSent = Date.now();
  let buffer = '';
  const write = (records) => {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(records.map((r) => JSON.stringify(r) + RS).join(''));
    lastSent = Date.now();
  };
  const end = (reason, closeMessage) => {
    if (ended) return;
    ended = true;
    if (closeMessage) write([closeMessage]);
    if (ws.readyState === ws.OPEN) ws.close(1000);
    finish(reason);
  };
  const finish = (reason) => {
    if (!conns.delete(ws)) return;
    clearInterval(tick);
    counters.open--;
    counters.disconnects++;
    counters.disconnect_reasons[reason] = (counters.disconnect_reasons[reason] || 0) + 1;
    log({ ev: 'disconnect', id, reason });
  };
  ws.wsfEnd = end;
  const handshakeTimer = setTimeout(() => {
    if (!handshaken) {
      counters.handshakes_failed++;
      ws.send(JSON.stringify({ error: 'Handshake was canceled.' }) + RS);
      end('handshake timeout');
    }
  }, handshakeTimeoutMs);
  // One tick a fraction of the shorter interval, as the server's timer loop does (1 s there).
  const tickMs = Math.max(20, Math.min(keepAliveMs, clientTimeoutMs) / 10);
  const tick = setInterval(() => {
    if (!handshaken) return;
    const now = Date.now();
    if (now - lastReceived >= clientTimeoutMs) {
      end('client timeout', { type: 7, error: 'Connection closed with an error.', allowReconnect: true });
    } else if (now - lastSent >= keepAliveMs) {
      counters.pings_sent++;
      write([{ type: 6 }]);
    }
  }, tickMs);

  const handshake = (text) => {
    clearTimeout(handshakeTimer);
    let req;
    try {
      req = JSON.parse(text);
    } catch (e) {
      req = null;
    }
    let error = null;
    if (!req || typeof req.protocol !== 'string') error = 'Handshake request is malformed.';
    else if (req.protocol !== 'json') error = `The protocol '${req.protocol}' is not supported.`;
    else if (req.version !== 1) error = `The server does not support version ${req.version} of the '${req.protocol}' protocol.`;
    else if (handshakeError !== null) error = handshakeError;
    log({ ev: 'handshake', id, ok: error === null, request: text });
    if (error) {
      counters.handshakes_failed++;
      ws.send(JSON.stringify({ error }) + RS);
      end('handshake failed');
      return;
    }
    counters.handshakes_ok++;
    handshaken = true;
    ws.send('{}' + RS);
    lastSent = Date.now();
  };

  const invoke = (msg) => {
    counters.invocations++;
    log({ ev: 'invocation', id, target: msg.target, arguments: msg.arguments, invocationId: msg.invocationId });
    const args = Array.isArray(msg.arguments) ? msg.arguments : [];
    let completion;
    if (msg.target === 'Echo') {
      completion = { result: args.length ? args[0] : null };
    } else if (msg.target === 'Broadcast') {
      for (const other of conns) {
        if (other.readyState === other.OPEN) other.send(JSON.stringify({ type: 1, target: 'broadcast', arguments: args }) + RS);
      }
      completion = { result: null };
    } else if (msg.target === 'Throw') {
      completion = { error: `An unexpected error occurred invoking 'Throw' on the server. HubException: ${args[0]}` };
    } else {
      completion = { error: `Failed to invoke '${msg.target}' due to an error on the server. HubException: Method does not exist.` };
    }
    if (msg.invocationId !== undefined) {
      counters.completions++;
      write([Object.assign({ type: 3, invocationId: msg.invocationId }, completion)]);
    }
  };

  ws.on('message', (data, isBinary) => {
    lastReceived = Date.now();
    buffer += data.toString('utf8');
    let sep;
    while ((sep = buffer.indexOf(RS)) >= 0) {
      const text = buffer.slice(0, sep);
      buffer = buffer.slice(sep + 1);
      counters.records_received++;
      if (!handshaken) {
        handshake(text);
        if (!handshaken) return;
        continue;
      }
      let msg;
      try {
        msg = JSON.parse(text);
      } catch (e) {
        end('bad record', { type: 7, error: 'Connection closed with an error. InvalidDataException: bad JSON' });
        return;
      }
      if (msg.type === 1) invoke(msg);
      else if (msg.type === 6) {
        counters.pings_received++;
        log({ ev: 'ping', id });
      } else if (msg.type === 7) end('client close');
    }
  });
  ws.on('close', () => finish('transport close'));
  ws.on('error', () => finish('transport error'));
}

function command(line) {
  const parts = line.trim().split(' ');
  if (parts[0] === 'stats') stats();
  else if (parts[0] === 'close') {
    const error = parts.slice(1).join(' ');
    const msg = error ? { type: 7, error, allowReconnect: true } : { type: 7, allowReconnect: true };
    for (const ws of [...conns]) ws.wsfEnd('server close', msg);
    emit({ ev: 'done', cmd: 'close' });
  } else if (parts[0] === 'kick') {
    for (const ws of [...conns]) ws._socket.destroy();
    emit({ ev: 'done', cmd: 'kick' });
  } else if (parts[0] === 'send' && parts.length >= 3) {
    const rec = JSON.stringify({ type: 1, target: parts[1], arguments: JSON.parse(parts.slice(2).join(' ')) }) + RS;
    for (const ws of conns) ws.send(rec);
    emit({ ev: 'done', cmd: 'send' });
  } else if (parts[0] === 'sendmany' && parts.length >= 4) {
    const [, count, target] = parts;
    const args = JSON.parse(parts.slice(3).join(' '));
    let message = '';
    for (let i = 0; i < parseInt(count, 10); i++) message += JSON.stringify({ type: 1, target, arguments: args.concat([i]) }) + RS;
    for (const ws of conns) ws.send(message);
    emit({ ev: 'done', cmd: 'sendmany' });
  } else if (parts[0] !== '') emit({ ev: 'error', message: 'unknown command ' + parts[0] });
}

process.on('SIGUSR1', stats);
serveStdin(command, stats);

httpServer.listen(port, host, () => process.stdout.write(`READY ${httpServer.address().port}\n`));
