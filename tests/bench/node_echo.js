// node `ws` peer for bench_messages.py: one process, CONNS WebSockets on URL, each keeping one
// SIZE-byte text message in flight (send, wait for the echo, send again). Echoes that arrive in
// [start, end) (epoch ms) are counted. Prints one JSON line. `ws` comes from tests/node (pinned
// in its package.json; `npm ci` there installs it).
//   node node_echo.js URL CONNS SIZE WINDOW_START_MS WINDOW_END_MS
'use strict';
const path = require('path');
const WebSocket = require(path.join(__dirname, '..', 'node', 'node_modules', 'ws'));

const [url, n, size, wStart, wEnd] = [process.argv[2], ...process.argv.slice(3, 7).map(Number)];
let answered = 0, open = 0, win = 0, all = 0, wrong = 0, errors = 0, readyAt = 0;

function finish() {
  const secs = (wEnd - wStart) / 1000;
  process.stdout.write(JSON.stringify({
    client: 'node-ws', conns: n, size, round_trips: win, seconds: secs, rps: win / secs,
    ready_at_ms: readyAt, total: all, wrong_echo: wrong, errors,
  }) + '\n');
  process.exit(errors || wrong || !readyAt ? 1 : 0);
}

for (let i = 0; i < n; i++) {
  const payload = ('m' + String(i).padStart(5, '0') + ' ').padEnd(size, 'x');
  const ws = new WebSocket(url, { perMessageDeflate: false });
  let got = false;
  open++;
  ws.on('open', () => ws.send(payload));
  ws.on('message', (data, isBinary) => {
    const now = Date.now();
    all++;
    if (isBinary || data.toString() !== payload) wrong++;
    if (now >= wStart && now < wEnd) win++;
    if (!got) {
      got = true;
      if (++answered === n) readyAt = now;
    }
    if (now < wEnd) ws.send(payload);
    else ws.close();
  });
  ws.on('error', () => { errors++; });
  ws.on('close', () => { if (--open === 0) finish(); });
}
setTimeout(() => { errors++; finish(); }, Math.max(0, wEnd - Date.now()) + 15000).unref();
