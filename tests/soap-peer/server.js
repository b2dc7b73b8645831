// A real SOAP receiver for postcall's tests, built on node-soap.
//
//   node server.js --port 0      (127.0.0.1; prints "listening <port>" on stdout)
//
// Serves calls.wsdl at /calls?wsdl (SOAP 1.1 port /calls, SOAP 1.2 port
// /calls12). RecordCall records what it received; GET /received returns the
// records as JSON: [{path, contentType, soapAction, body (raw XML), operation,
// args (as node-soap parsed them)}]. A RecordCall whose note is
// "client-fault" or "server-fault" is answered with a SOAP Fault
// (HTTP 500): Client/Sender or Server/Receiver, per the port's SOAP version.
'use strict';

const fs = require('fs');
const http = require('http');
const path = require('path');
const soap = require('soap');

function argValue(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const port = Number(argValue('--port', '0'));
const received = [];
const MAX_RECORDS = 1000;

function fault(version, kind, text) {
  if (version === '1.2') {
    const value = kind === 'client' ? 'soap:Sender' : 'soap:Receiver';
    return { Fault: { Code: { Value: value }, Reason: { Text: text }, statusCode: 500 } };
  }
  const code = kind === 'client' ? 'soap:Client' : 'soap:Server';
  return { Fault: { faultcode: code, faultstring: text, statusCode: 500 } };
}

function implementation(version) {
  const ops = {
    RecordCall(args) {
      const last = received[received.length - 1];
      if (last && last.args === undefined) {
        last.operation = 'RecordCall';
        last.args = args;
      }
      if (args.note === 'client-fault') {
        throw fault(version, 'client', 'callId ' + args.callId + ' refused: unknown caller');
      }
      if (args.note === 'server-fault') {
        throw fault(version, 'server', 'database unavailable, try later');
      }
      return { accepted: true, reference: 'ref-' + args.callId };
    },
    Ping(args) {
      const last = received[received.length - 1];
      if (last && last.args === undefined) {
        last.operation = 'Ping';
        last.args = args;
      }
      return { message: args.message };
    },
  };
  return {
    CallService: {
      CallSoap11Port: ops,
      CallSoap12Port: ops,
    },
  };
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/received') {
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify(received));
    return;
  }
  res.statusCode = 404;
  res.end('not found');
});

server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const base = 'http://127.0.0.1:' + actual;
  const wsdl = fs
    .readFileSync(path.join(__dirname, 'calls.wsdl'), 'utf8')
    .split('__BASE__')
    .join(base);
  const ports = [
    ['/calls', '1.1', {}],
    ['/calls12', '1.2', { forceSoap12Headers: true }],
  ];
  for (const [p, version, options] of ports) {
    const listener = soap.listen(server, { path: p, services: implementation(version), xml: wsdl, ...options });
    listener.log = (type, data, req) => {
      if (type !== 'received' || received.length >= MAX_RECORDS) {
        return;
      }
      received.push({
        path: p,
        contentType: req.headers['content-type'] || null,
        soapAction: req.headers['soapaction'] === undefined ? null : req.headers['soapaction'],
        body: String(data),
      });
    };
  }
  process.stdout.write('listening ' + actual + '\n');
});

// Stop when the test that started us goes away.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
