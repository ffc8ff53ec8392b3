/**
 * Instances that misbehave at the HTTP level, as loopback workers (test/helpers/http-workers.ts):
 * each entry is a behaviour, the reason a probe of it must give, and whether the server ends
 * the exchange itself (so the probe may settle before its timeout) or only the probe's own
 * deadline can. The probe, protect-scan and gate tests all run this one table.
 */
import type { Behaviour } from './http-workers.js';

export interface HostileCase {
  /** What the server does, as a test title fragment. */
  name: string;
  behaviour: Behaviour;
  /** The probe's reason. */
  reason: RegExp;
  /**
   * The answer is final before the timeout (the server closed, reset, or sent something no
   * later byte can mend): the probe may settle early. Otherwise it must settle at its deadline,
   * not before.
   */
  settlesEarly: boolean;
}

const CRLF = '\r\n';
const STATUS_200 = `HTTP/1.1 200 OK${CRLF}`;
/** Interim answers sent one after another, forever. */
const INTERIM = [
  `HTTP/1.1 100 Continue${CRLF}${CRLF}`,
  `HTTP/1.1 102 Processing${CRLF}${CRLF}`,
  `HTTP/1.1 103 Early Hints${CRLF}Link: </style.css>; rel=preload${CRLF}${CRLF}`,
];
const SWITCHING = `HTTP/1.1 101 Switching Protocols${CRLF}Upgrade: websocket${CRLF}Connection: Upgrade${CRLF}${CRLF}`;
/** Between two writes of a server that never finishes. */
const TRICKLE_MS = 20;

export const HOSTILE: HostileCase[] = [
  {
    name: 'answers 101 Switching Protocols and keeps the socket open',
    behaviour: { kind: 'raw', respond: (socket) => socket.write(SWITCHING) },
    reason: /^HTTP 101: an upgrade is not an answer$/,
    settlesEarly: true,
  },
  {
    name: 'answers 101 Switching Protocols and closes the socket',
    behaviour: { kind: 'raw', respond: (socket) => socket.end(SWITCHING) },
    reason: /^HTTP 101: an upgrade is not an answer$/,
    settlesEarly: true,
  },
  {
    name: 'sends interim 1xx answers forever (100, 102, 103)',
    behaviour: {
      kind: 'raw',
      respond: (socket, every) => {
        let i = 0;
        every(TRICKLE_MS, () => socket.write(INTERIM[i++ % INTERIM.length]!));
      },
    },
    reason: /^timeout after \d+ ms \(waiting for the answer, after \d+ interim 1xx answers\)$/,
    settlesEarly: false,
  },
  {
    name: 'never ends its headers',
    behaviour: {
      kind: 'raw',
      respond: (socket, every) => {
        socket.write(STATUS_200);
        let i = 0;
        every(TRICKLE_MS, () => socket.write(`X-Pad-${i++}: a${CRLF}`));
      },
    },
    reason: /^timeout after \d+ ms \(waiting for the answer\)$/,
    settlesEarly: false,
  },
  {
    name: 'trickles a body with no length on a connection it never closes',
    behaviour: {
      kind: 'raw',
      respond: (socket, every) => {
        socket.write(`${STATUS_200}Content-Type: text/plain${CRLF}${CRLF}BUSY`);
        every(TRICKLE_MS, () => socket.write(' '));
      },
    },
    reason: /^timeout after \d+ ms \(reading the body, \d+ bytes so far\)$/,
    settlesEarly: false,
  },
  {
    name: 'answers noise instead of HTTP',
    behaviour: {
      kind: 'raw',
      respond: (socket) =>
        socket.write(Buffer.from('\u0000\u001b[2J\u0007SSH-2.0-garbage\r\n\xff\xfe')),
    },
    reason: /^not an HTTP answer \(HPE_INVALID_CONSTANT\)$/,
    settlesEarly: true,
  },
  {
    name: 'resets the connection',
    behaviour: { kind: 'raw', respond: (socket) => socket.resetAndDestroy() },
    reason: /^connection reset$/,
    settlesEarly: true,
  },
  {
    name: 'sends an invalid chunk size and keeps the socket open',
    behaviour: {
      kind: 'raw',
      respond: (socket) =>
        socket.write(`${STATUS_200}Transfer-Encoding: chunked${CRLF}${CRLF}zz${CRLF}BUSY${CRLF}`),
    },
    reason: /^invalid chunked encoding \(HPE_INVALID_CHUNK_SIZE\)$/,
    settlesEarly: true,
  },
  {
    name: 'sends a 1 MB header and keeps the socket open',
    behaviour: {
      kind: 'raw',
      respond: (socket) => socket.write(`${STATUS_200}X-Huge: ${'a'.repeat(1 << 20)}${CRLF}`),
    },
    reason: /^headers larger than the client accepts \(HPE_HEADER_OVERFLOW\)$/,
    settlesEarly: true,
  },
  {
    name: 'accepts and never answers',
    behaviour: { kind: 'hang' },
    reason: /^timeout after \d+ ms \(waiting for the answer\)$/,
    settlesEarly: false,
  },
  {
    name: 'drips its answer one byte at a time, slower than the timeout',
    behaviour: { kind: 'drip', body: 'BUSY'.repeat(100), intervalMs: 30 },
    reason: /^timeout after \d+ ms \(reading the body, \d+ bytes so far\)$/,
    settlesEarly: false,
  },
  {
    name: 'sends a 1 MB body',
    behaviour: { kind: 'answer', body: 'B'.repeat(1 << 20) },
    reason: /^body larger than 4096 bytes$/,
    settlesEarly: true,
  },
  {
    name: 'answers with terminal escapes and line breaks',
    behaviour: {
      kind: 'answer',
      body: `\u001b]0;owned\u0007BUSY\r\nX-Injected: 1\u2028\u202e\u009b\u007f${'z'.repeat(500)}`,
    },
    reason:
      /^unexpected answer "\\u001b\]0;owned\\u0007BUSY\\u000d\\u000aX-Injected: 1\\u2028\\u202e\\u009b\\u007fz+…"$/,
    settlesEarly: true,
  },
];
