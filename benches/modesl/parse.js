// node's modesl (FreeSWITCH ESL for Node.js) parser over a capture file, fed
// as a socket would in 64 KiB chunks; prints one line: MiB/s and events/s,
// best of several rounds. Run by benches/esl.rs: node parse.js FILE
'use strict';
const fs = require('fs');
const { EventEmitter } = require('events');
const Parser = require('modesl/lib/esl/Parser');

const bytes = fs.readFileSync(process.argv[2]);
const CHUNK = 64 * 1024;

function once() {
  const socket = new EventEmitter();
  const parser = new Parser(socket);
  let events = 0;
  parser.on('esl::event', (event, headers) => {
    if (String(headers['Content-Type']).startsWith('text/event')) events++;
  });
  for (let at = 0; at < bytes.length; at += CHUNK) {
    socket.emit('data', bytes.subarray(at, Math.min(at + CHUNK, bytes.length)));
  }
  return events;
}

let events = once();
let best = Infinity;
const started = process.hrtime.bigint();
for (let round = 0; round < 30 && process.hrtime.bigint() - started < 5_000_000_000n; round++) {
  const t0 = process.hrtime.bigint();
  events = once();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (s < best) best = s;
}
const mib = bytes.length / 1048576 / best;
console.log(`${mib.toFixed(1)} MiB/s, ${Math.round(events / best)} events/s (${events} events, ${bytes.length} bytes, best of rounds)`);
