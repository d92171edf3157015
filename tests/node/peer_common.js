// What every node peer of the tests shares: command-line flags, JSON-line records on stdout, and the
// process lifetime (stdin commands, one per line; exit on stdin EOF, SIGTERM or --max-seconds).
'use strict';

// The value after `--name` on the command line, else dflt.
function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

// Seconds on CLOCK_MONOTONIC (process.hrtime), comparable with Python's time.monotonic().
const mono = () => Number(process.hrtime.bigint()) / 1e9;

// One JSON record per line on stdout, stamped with `t` (mono()).
const emit = (rec) => process.stdout.write(JSON.stringify(Object.assign({ t: mono() }, rec)) + '\n');

// Calls onLine(line) for each stdin line; onExit() then exits 0 when stdin ends, on SIGTERM, or after
// --max-seconds (default 900: a peer a crashed test left behind does not live on).
function serveStdin(onLine, onExit = () => {}) {
  let pending = '';
  process.stdin.on('data', (chunk) => {
    pending += chunk.toString('utf8');
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      onLine(pending.slice(0, nl));
      pending = pending.slice(nl + 1);
    }
  });
  const exit = () => {
    onExit();
    process.exit(0);
  };
  process.stdin.on('end', exit);
  process.stdin.on('error', exit);
  process.on('SIGTERM', exit);
  process.stdin.resume();
  setTimeout(exit, parseFloat(arg('max-seconds', '900')) * 1000).unref();
}

module.exports = { arg, mono, emit, serveStdin };
