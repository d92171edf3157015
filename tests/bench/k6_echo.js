// k6 peer for bench_messages.py: CONNS WebSockets on URL, PER_VU per VU (k6/websockets lets one VU
// hold several), each keeping one SIZE-byte text message in flight: send, wait for the echo, send
// again. Echoes that arrive in [WINDOW_START, WINDOW_END) (epoch ms) are counted in a plain JS
// variable and added to a Counter once per VU at the end, so the count costs k6 nothing per message.
import { WebSocket } from 'k6/websockets';
import { Counter, Trend } from 'k6/metrics';

const N = parseInt(__ENV.CONNS, 10);
const PER_VU = parseInt(__ENV.PER_VU || '10', 10);
const SIZE = parseInt(__ENV.SIZE || '32', 10);
const W_START = parseInt(__ENV.WINDOW_START, 10);
const W_END = parseInt(__ENV.WINDOW_END, 10);
const VUS = Math.ceil(N / PER_VU);

const inWindow = new Counter('echo_in_window');
const total = new Counter('echo_total');
const wrong = new Counter('echo_wrong');
const ready = new Trend('ready_at_ms');

export const options = {
  scenarios: {
    echo: {
      executor: 'per-vu-iterations', vus: VUS, iterations: 1,
      maxDuration: Math.ceil((W_END - Date.now()) / 1000 + 30) + 's',
    },
  },
  summaryTrendStats: ['min', 'max', 'count'],
};

export default function () {
  const first = (__VU - 1) * PER_VU;
  const count = Math.min(PER_VU, N - first);
  let answered = 0, open = count, win = 0, all = 0, bad = 0;
  for (let i = 0; i < count; i++) {
    const payload = ('m' + String(first + i).padStart(5, '0') + ' ').padEnd(SIZE, 'x');
    const ws = new WebSocket(__ENV.URL);
    let got = false;
    ws.onopen = () => ws.send(payload);
    ws.onmessage = (e) => {
      const now = Date.now();
      all++;
      if (e.data !== payload) bad++;
      if (now >= W_START && now < W_END) win++;
      if (!got) {
        got = true;
        if (++answered === count) ready.add(now);
      }
      if (now < W_END) ws.send(payload);
      else ws.close();
    };
    ws.onclose = () => {
      if (--open === 0) {
        inWindow.add(win);
        total.add(all);
        wrong.add(bad);
      }
    };
    ws.onerror = (e) => { bad++; };
  }
}

export function handleSummary(data) {
  const v = (name, stat) => (data.metrics[name] ? data.metrics[name].values[stat] : 0);
  return {
    stdout: JSON.stringify({
      client: 'k6', conns: N, vus: VUS, per_vu: PER_VU, size: SIZE,
      round_trips: v('echo_in_window', 'count'), seconds: (W_END - W_START) / 1000,
      rps: v('echo_in_window', 'count') / ((W_END - W_START) / 1000),
      ready_at_ms: v('ready_at_ms', 'max'), ready_vus: v('ready_at_ms', 'count') || 0,
      total: v('echo_total', 'count'), wrong_echo: v('echo_wrong', 'count'),
    }) + '\n',
  };
}
