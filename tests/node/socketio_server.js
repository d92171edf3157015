#!/usr/bin/env node
// A Socket.IO v4 server (the `socket.io` npm package, the reference implementation) for the tests of
// wsfleetd's `socketio4` preset. Prints `READY <port>` once listening, then one JSON line per event:
//   {"ev":"connect","id":sid,"nsp":"/chat","query":{...},"auth":{...}}
//   {"ev":"event","id":sid,"nsp":...,"name":"echo","args":[...],"ack":true|false}
//   {"ev":"disconnect","id":sid,"nsp":...,"reason":"ping timeout"|"transport close"|"server namespace disconnect"|...}
//   {"ev":"stats", ...counters}      (on SIGUSR1, on the stdin command `stats`, and at exit)
// `t` is seconds on CLOCK_MONOTONIC, comparable with Python's time.monotonic().
// With --quiet only `stats` lines are printed (the 1,000-session tests).
//
// Behaviour, on the default namespace and on --namespace (default /chat):
//   event `echo`        answered through the ack when the client asked for one (`43<id>[...args]`),
//                       else emitted back to the sender as `echo` with the same arguments
//   event `broadcast`   emitted as `broadcast` to every socket of the namespace (the sender too)
//   any other event     recorded only
// A namespace whose name starts with /private refuses connects without auth {"token":"letmein"}
// (the client gets `44/private,{"message":"not authorized"}`).
//
// Commands on stdin, one per line (the process exits when stdin closes):
//   stats                      print the counters
//   disconnect [NSP]           disconnectSockets(true) on NSP (default /): every socket's TCP closes
//   emit NSP EVENT JSON_ARGS   emit EVENT with the arguments (a JSON array) to every socket of NSP
//
// Engine.IO timing is the server's: --ping-interval MS (socket.io's default 25000) and
// --ping-timeout MS (default 20000): the server pings every interval and drops a session whose pong
// has not come within the timeout ("ping timeout" disconnect reason).
'use strict';
const http = require('http');
const { Server } = require('socket.io');
const { arg, emit, serveStdin } = require('./peer_common');

const port = parseInt(arg('port', '0'), 10);
const host = arg('host', '127.0.0.1');
const pingInterval = parseInt(arg('ping-interval', '25000'), 10);
const pingTimeout = parseInt(arg('ping-timeout', '20000'), 10);
const extraNsp = arg('namespace', '/chat');
const quiet = process.argv.includes('--quiet');

const counters = {
  connects: 0,            // namespace connects (one per socket)
  disconnects: 0,
  disconnect_reasons: {}, // reason -> count
  open: 0,                // sockets connected now
  max_open: 0,
  events: 0,              // events received
  acks: 0,                // acks answered
  broadcasts: 0,
  engine_connections: 0,  // Engine.IO sessions (transport level)
  engine_errors: 0,       // connection_error (bad handshake, ...)
};
const stats = () => emit(Object.assign({ ev: 'stats' }, counters));

const httpServer = http.createServer();
const io = new Server(httpServer, {
  pingInterval,
  pingTimeout,
  maxHttpBufferSize: 1e6,
  serveClient: false,
  cors: { origin: '*' },
});
io.engine.on('connection', () => { counters.engine_connections++; });
io.engine.on('connection_error', (err) => {
  counters.engine_errors++;
  if (!quiet) emit({ ev: 'engine_error', code: err.code, message: err.message });
});

function attach(nsp) {
  if (nsp.name.startsWith('/private')) {
    nsp.use((socket, next) => {
      if (socket.handshake.auth && socket.handshake.auth.token === 'letmein') return next();
      next(new Error('not authorized'));
    });
  }
  nsp.on('connection', (socket) => {
    counters.connects++;
    counters.open++;
    if (counters.open > counters.max_open) counters.max_open = counters.open;
    if (!quiet) {
      emit({ ev: 'connect', id: socket.id, nsp: nsp.name, query: socket.handshake.query,
             auth: socket.handshake.auth });
    }
    socket.onAny((name, ...args) => {
      counters.events++;
      const ack = args.length > 0 && typeof args[args.length - 1] === 'function' ? args.pop() : null;
      if (!quiet) emit({ ev: 'event', id: socket.id, nsp: nsp.name, name, args, ack: ack !== null });
      if (name === 'echo') {
        if (ack) {
          counters.acks++;
          ack(...args);
        } else {
          socket.emit('echo', ...args);
        }
      } else if (name === 'broadcast') {
        counters.broadcasts++;
        nsp.emit('broadcast', ...args);
        if (ack) {
          counters.acks++;
          ack('ok');
        }
      } else if (ack) {
        counters.acks++;
        ack(...args);
      }
    });
    socket.on('disconnect', (reason) => {
      counters.disconnects++;
      counters.open--;
      counters.disconnect_reasons[reason] = (counters.disconnect_reasons[reason] || 0) + 1;
      if (!quiet) emit({ ev: 'disconnect', id: socket.id, nsp: nsp.name, reason });
    });
  });
}
attach(io.of('/'));
attach(io.of(extraNsp));
attach(io.of('/private'));

function command(line) {
  const parts = line.trim().split(' ');
  if (parts[0] === 'stats') {
    stats();
  } else if (parts[0] === 'disconnect') {
    io.of(parts[1] || '/').disconnectSockets(true);
    emit({ ev: 'done', cmd: 'disconnect' });
  } else if (parts[0] === 'emit' && parts.length >= 4) {
    io.of(parts[1]).emit(parts[2], ...JSON.parse(parts.slice(3).join(' ')));
    emit({ ev: 'done', cmd: 'emit' });
  } else if (parts[0] !== '') {
    emit({ ev: 'error', message: 'unknown command ' + parts[0] });
  }
}

process.on('SIGUSR1', stats);
serveStdin(command, stats);

httpServer.listen(port, host, () => process.stdout.write(`READY ${httpServer.address().port}\n`));
