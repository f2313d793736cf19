#!/usr/bin/env node
// An independent rexec client, written from docs/PROTOCOL.md alone (no project source was read),
// to show that the page is enough to interoperate with the real rexecd. Node.js 18+ built-ins only.
//
//   node rexec_client.mjs --key FILE --fingerprint SHA256:... [--stdin] [--timeout-ms N]
//        [--env NAME=VALUE]... [--cwd DIR] [--sh] HOST[:PORT] [--] PROG [ARG...]
//   node rexec_client.mjs --self-test      checks the worked examples of PROTOCOL.md offline
//
// Exit status as PROTOCOL.md section 9.2 gives it for the reference client: the remote exit code
// as it is, 128+N for signal N, 124 timeout, 127 not found, 126 not executable, 255 for this
// client's own failures (always with one "rexec: HOST: ..." line on stderr).

import tls from 'node:tls';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { pathToFileURL } from 'node:url';

// ---------------------------------------------------------------------------------------------
// Constants of the protocol (PROTOCOL.md sections 2.5, 3, 4, 6, 7)

const PROTOCOL_VERSION = 1;
const DEFAULT_PORT = 5512;
const FEATURE_SHELL = 1n;
const FEATURE_SIGNALS = 2n;
const LIMIT_PAYLOAD = 1048576;  // the reference client applies 1 MiB from the first frame on
const STDIN_CHUNK = 262144;
const EXPORTER_LABEL = 'EXPORTER-Channel-Binding';
const CLIENT_LABEL = Buffer.from('rexec v1 client proof\0', 'latin1');
const SERVER_LABEL = Buffer.from('rexec v1 server proof\0', 'latin1');
const KEY_ID_PREFIX = Buffer.from('rexec key id\0', 'latin1');
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

class Failure extends Error {}  // this client's own failure: exit 255 with one line

// ---------------------------------------------------------------------------------------------
// Protobuf, by hand (section 4.2): varints (wire type 0) and length-delimited fields (wire type 2)

function encodeVarint(value) {
  let v = BigInt(value);
  if (v < 0n) v = BigInt.asUintN(64, v);  // int32/enum: two's complement sign-extended to 64 bits
  const out = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v !== 0n) b |= 0x80;
    out.push(b);
  } while (v !== 0n);
  return Buffer.from(out);
}

// Returns [BigInt value, bytes used] or null if buf holds no complete varint yet.
function decodeVarint(buf, pos, maxBytes = 10) {
  let v = 0n;
  for (let i = 0; i < maxBytes; i++) {
    if (pos + i >= buf.length) return null;
    const b = buf[pos + i];
    v |= BigInt(b & 0x7f) << BigInt(7 * i);
    if ((b & 0x80) === 0) return [v, i + 1];
  }
  throw new Failure('malformed frame');  // a varint is at most 10 bytes
}

// Message schemas: field number -> [name, type, flags]. type: a scalar name or a schema object.
// flags: 'repeated' or 'oneof' (oneof members are written even when they hold the default).
const S = {};
S.AuthChallenge = { 1: ['protocol_version', 'uint32'], 2: ['features', 'uint64'], 3: ['server_nonce', 'bytes'] };
S.AuthResponse = {
  1: ['protocol_version', 'uint32'], 2: ['features', 'uint64'], 3: ['key_id', 'string'],
  4: ['client_nonce', 'bytes'], 5: ['proof', 'bytes'],
};
S.AuthResult = { 1: ['ok', 'bool'], 2: ['server_proof', 'bytes'], 3: ['message', 'string'] };
S.EnvVar = { 1: ['name', 'string'], 2: ['value', 'bytes'] };
S.ExecRequest = {
  1: ['exec_id', 'uint32'], 2: ['argv', 'bytes', 'repeated'], 3: ['shell', 'bool'], 4: ['cwd', 'bytes'],
  5: ['env', S.EnvVar, 'repeated'], 6: ['stdin_open', 'bool'], 7: ['timeout_ms', 'uint32'],
};
S.StdinData = { 1: ['exec_id', 'uint32'], 2: ['data', 'bytes'] };
S.StdinClose = { 1: ['exec_id', 'uint32'] };
S.Signal = { 1: ['exec_id', 'uint32'], 2: ['name', 'string'] };
S.Output = { 1: ['exec_id', 'uint32'], 2: ['stream', 'enum'], 3: ['data', 'bytes'] };
S.Signaled = { 1: ['name', 'string'], 2: ['number', 'int32'], 3: ['core_dumped', 'bool'] };
S.TimedOut = { 1: ['timeout_ms', 'uint32'] };
S.StartFailed = { 1: ['reason', 'enum'], 2: ['message', 'string'] };
S.ExecResult = {
  1: ['exec_id', 'uint32'], 2: ['exit_code', 'int32', 'oneof'], 3: ['signaled', S.Signaled, 'oneof'],
  4: ['timed_out', S.TimedOut, 'oneof'], 5: ['start_failed', S.StartFailed, 'oneof'],
  6: ['stdout_bytes', 'uint64'], 7: ['stderr_bytes', 'uint64'], 8: ['wall_time_us', 'uint64'],
};
S.Error = { 1: ['message', 'string'] };
S.Frame = {
  1: ['auth_challenge', S.AuthChallenge, 'oneof'], 2: ['auth_response', S.AuthResponse, 'oneof'],
  3: ['auth_result', S.AuthResult, 'oneof'], 4: ['exec_request', S.ExecRequest, 'oneof'],
  5: ['stdin_data', S.StdinData, 'oneof'], 6: ['stdin_close', S.StdinClose, 'oneof'],
  7: ['signal', S.Signal, 'oneof'], 8: ['output', S.Output, 'oneof'],
  9: ['exec_result', S.ExecResult, 'oneof'], 10: ['error', S.Error, 'oneof'],
};
const ONEOF_GROUPS = new Map([[S.ExecResult, 'outcome'], [S.Frame, 'msg']]);
const VARINT_TYPES = new Set(['uint32', 'uint64', 'int32', 'bool', 'enum']);

function encodeMessage(schema, obj) {
  const parts = [];
  for (const num of Object.keys(schema).map(Number).sort((a, b) => a - b)) {
    const [name, type, flag] = schema[num];
    let value = obj[name];
    if (value === undefined || value === null) continue;
    const values = flag === 'repeated' ? value : [value];
    for (const v of values) {
      if (typeof type === 'object') {
        parts.push(encodeVarint((num << 3) | 2));
        const body = encodeMessage(type, v);
        parts.push(encodeVarint(body.length), body);
      } else if (VARINT_TYPES.has(type)) {
        const n = type === 'bool' ? (v ? 1n : 0n) : BigInt(v);
        if (n === 0n && flag !== 'oneof') continue;  // defaults are omitted
        parts.push(encodeVarint((num << 3) | 0), encodeVarint(n));
      } else {
        const b = type === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v);
        if (b.length === 0 && flag === undefined) continue;  // empty singular bytes/string omitted
        parts.push(encodeVarint((num << 3) | 2), encodeVarint(b.length), b);
      }
    }
  }
  return Buffer.concat(parts);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

// Decodes a message; unknown fields are skipped, the last of a repeated singular field wins, and so
// does the last member of a oneof (its name is stored under the group name, e.g. obj.msg).
function decodeMessage(schema, buf) {
  const obj = {};
  const group = ONEOF_GROUPS.get(schema);
  for (const [, [name, type, flag]] of Object.entries(schema)) {
    if (flag === 'repeated') obj[name] = [];
    else if (flag !== 'oneof') obj[name] = typeof type === 'object' ? undefined : defaultOf(type);
  }
  let pos = 0;
  while (pos < buf.length) {
    const t = decodeVarint(buf, pos);
    if (!t) throw new Failure('malformed frame');
    pos += t[1];
    const tag = t[0];
    const num = Number(tag >> 3n);
    const wt = Number(tag & 7n);
    if (num === 0 || tag > 0xffffffffn) throw new Failure('malformed frame');
    let value;
    if (wt === 0) {
      const v = decodeVarint(buf, pos);
      if (!v) throw new Failure('malformed frame');
      pos += v[1];
      value = v[0];
    } else if (wt === 2) {
      const l = decodeVarint(buf, pos);
      if (!l) throw new Failure('malformed frame');
      pos += l[1];
      if (l[0] > BigInt(buf.length - pos)) throw new Failure('malformed frame');
      value = buf.subarray(pos, pos + Number(l[0]));
      pos += Number(l[0]);
    } else {
      pos = skipField(buf, pos, num, wt);  // no field of this protocol uses these: unknown, skipped
      continue;
    }
    const field = schema[num];
    if (!field) continue;  // unknown field: ignored
    const [name, type, flag] = field;
    const isVarintType = typeof type !== 'object' && VARINT_TYPES.has(type);
    if ((wt === 0) !== isVarintType) continue;  // wrong wire type for a known field: treated as unknown
    let v;
    if (typeof type === 'object') v = decodeMessage(type, value);
    else if (type === 'string') {
      try { v = utf8.decode(value); } catch { throw new Failure('malformed frame'); }
    } else if (type === 'bytes') v = Buffer.from(value);
    else if (type === 'bool') v = value !== 0n;
    else if (type === 'uint32') v = Number(BigInt.asUintN(32, value));
    else if (type === 'int32' || type === 'enum') v = Number(BigInt.asIntN(32, value));
    else v = BigInt.asUintN(64, value);  // uint64
    if (flag === 'repeated') obj[name].push(v);
    else if (flag === 'oneof') {
      for (const [, [other, , f]] of Object.entries(schema)) if (f === 'oneof') delete obj[other];
      obj[name] = v;
      obj[group] = name;
    } else obj[name] = v;
  }
  return obj;
}

// Skips the value of an unknown field of wire type 1 (8 bytes), 5 (4 bytes) or 3 (a group, up to
// its matching end-group tag), as protobuf does; a stray end group (4) and wire types 6, 7 are
// malformed.
function skipField(buf, pos, num, wt, depth = 0) {
  if (wt === 1 || wt === 5) {
    const n = wt === 1 ? 8 : 4;
    if (pos + n > buf.length) throw new Failure('malformed frame');
    return pos + n;
  }
  if (wt !== 3 || depth > 100) throw new Failure('malformed frame');
  for (;;) {
    const t = decodeVarint(buf, pos);
    if (!t) throw new Failure('malformed frame');
    pos += t[1];
    const n = Number(t[0] >> 3n), w = Number(t[0] & 7n);
    if (n === 0) throw new Failure('malformed frame');
    if (w === 4) {
      if (n !== num) throw new Failure('malformed frame');
      return pos;
    }
    if (w === 0) {
      const v = decodeVarint(buf, pos);
      if (!v) throw new Failure('malformed frame');
      pos += v[1];
    } else if (w === 2) {
      const l = decodeVarint(buf, pos);
      if (!l || l[0] > BigInt(buf.length - pos - l[1])) throw new Failure('malformed frame');
      pos += l[1] + Number(l[0]);
    } else {
      pos = skipField(buf, pos, n, w, depth + 1);
    }
  }
}

function defaultOf(type) {
  if (type === 'bytes') return Buffer.alloc(0);
  if (type === 'string') return '';
  if (type === 'bool') return false;
  if (type === 'uint64') return 0n;
  return 0;
}

// Section 3: frame = varint(payload length) || payload
function encodeFrame(member, message) {
  const payload = encodeMessage(S.Frame, { [member]: message });
  return Buffer.concat([encodeVarint(payload.length), payload]);
}

// Extracts complete frames from buf. Returns [frames, rest].
function decodeFrames(buf, limit = LIMIT_PAYLOAD) {
  const frames = [];
  let pos = 0;
  for (;;) {
    let len = 0n, used = 0, complete = false;
    for (; used < 5 && pos + used < buf.length; used++) {
      const b = buf[pos + used];
      len |= BigInt(b & 0x7f) << BigInt(7 * used);
      if ((b & 0x80) === 0) { complete = true; used++; break; }
    }
    if (!complete) {
      if (used >= 5) throw new Failure('malformed frame length');
      break;  // wait for more bytes
    }
    if (len > 0xffffffffn) throw new Failure('malformed frame length');
    if (len > BigInt(limit)) throw new Failure(`frame larger than the limit of ${limit} bytes`);
    const n = Number(len);
    if (buf.length - pos - used < n) break;
    const payload = buf.subarray(pos + used, pos + used + n);
    pos += used + n;
    const f = decodeMessage(S.Frame, payload);
    if (!f.msg) throw new Failure('empty or unknown frame type');
    frames.push(f);
  }
  return [frames, buf.subarray(pos)];
}

// ---------------------------------------------------------------------------------------------
// Keys (section 7) and proofs (section 6)

function parseKeyFile(path) {
  let fd;
  try { fd = fs.openSync(path, 'r'); } catch (e) { throw new Failure(`${path}: ${e.message}`); }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Failure(`${path}: not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new Failure(`${path}: permissions 0${(st.mode & 0o777).toString(8)} are too open; it holds a secret key (chmod 600 ${path})`);
    }
    if (st.size > 65536) throw new Failure(`${path}: larger than 65536 bytes`);
    const text = fs.readFileSync(fd).toString('latin1');
    const keys = [];
    for (const raw of text.split('\n')) {
      const line = raw.replace(/^[ \t\r]+|[ \t\r]+$/g, '');
      if (line === '' || line.startsWith('#')) continue;
      const words = line.split(/[ \t]+/);
      keys.push(words);
    }
    if (keys.length !== 1) throw new Failure(`${path}: expected exactly one key line, found ${keys.length}`);
    const [type, b64] = keys[0];
    if (type === 'ed25519') throw new Failure(`${path}: this is a public key (an authorized keys line), not a private key file`);
    if (type !== 'ed25519-private' && type !== 'hmac-sha256') throw new Failure(`${path}: unknown key type`);
    if (!b64 || !/^[A-Za-z0-9+/]{43}=$/.test(b64)) throw new Failure(`${path}: the key is not 32 bytes of base64`);
    const raw = Buffer.from(b64, 'base64');
    if (raw.length !== 32 || raw.toString('base64') !== b64) throw new Failure(`${path}: the key is not 32 bytes of base64`);
    return makeKey(type === 'hmac-sha256' ? 'hmac' : 'ed25519', raw);
  } finally {
    fs.closeSync(fd);
  }
}

function makeKey(kind, raw) {
  if (kind === 'hmac') {
    return { kind, secret: raw, keyId: 'hmac-' + sha256(KEY_ID_PREFIX, raw).toString('hex').slice(0, 24) };
  }
  const privateKey = crypto.createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
  const spki = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'der' });
  if (spki.length !== 44 || !spki.subarray(0, 12).equals(ED25519_SPKI_PREFIX)) throw new Failure('unexpected Ed25519 public key encoding');
  const publicKey = spki.subarray(12);
  return { kind, privateKey, publicKey, keyId: 'ed25519-' + sha256(KEY_ID_PREFIX, publicKey).toString('hex').slice(0, 24) };
}

function sha256(...parts) {
  const h = crypto.createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function transcript(label, serverNonce, clientNonce, channelBinding, keyId) {
  return Buffer.concat([label, serverNonce, clientNonce, channelBinding, Buffer.from(keyId, 'latin1')]);
}

function clientProof(key, serverNonce, clientNonce, cb) {
  const t = transcript(CLIENT_LABEL, serverNonce, clientNonce, cb, key.keyId);
  if (key.kind === 'hmac') return crypto.createHmac('sha256', key.secret).update(t).digest();
  return crypto.sign(null, t, key.privateKey);  // pure Ed25519 over the transcript itself
}

function expectedServerProof(key, serverNonce, clientNonce, cb) {
  const t = transcript(SERVER_LABEL, serverNonce, clientNonce, cb, key.keyId);
  return crypto.createHmac('sha256', key.secret).update(t).digest();
}

// Section 2.3: "SHA256:" + unpadded base64 of SHA-256 over the DER SubjectPublicKeyInfo
function fingerprintOfSpki(spkiDer) {
  return 'SHA256:' + sha256(spkiDer).toString('base64').replace(/=+$/, '');
}

// ---------------------------------------------------------------------------------------------
// Command line

function usage(msg) {
  process.stderr.write(`rexec_client: ${msg}\nusage: node rexec_client.mjs --key FILE --fingerprint SHA256:... [--stdin] [--timeout-ms N] [--env NAME=VALUE]... [--cwd DIR] [--sh] HOST[:PORT] [--] PROG [ARG...]\n`);
  process.exit(255);
}

function parseArgs(argv) {
  const o = { env: [], stdin: false, shell: false, timeoutMs: 0, cwd: null, key: null, fingerprint: null, host: null, command: [] };
  let i = 0;
  const need = (name) => {
    if (i + 1 >= argv.length) usage(`${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (o.host !== null && (a === '--' || !a.startsWith('-'))) {
      o.command = argv.slice(a === '--' ? i + 1 : i);
      break;
    }
    if (a === '--key' || a === '-i') o.key = need(a);
    else if (a === '--fingerprint') o.fingerprint = need(a);
    else if (a === '--stdin') o.stdin = true;
    else if (a === '--sh') o.shell = true;
    else if (a === '--cwd') o.cwd = need(a);
    else if (a === '--timeout-ms') {
      const v = need(a);
      if (!/^[0-9]+$/.test(v) || Number(v) > 0xffffffff) usage(`bad --timeout-ms ${v}`);
      o.timeoutMs = Number(v);
    } else if (a === '--env') {
      const v = need(a);
      const eq = v.indexOf('=');
      if (eq <= 0) usage(`--env wants NAME=VALUE, not ${v}`);
      o.env.push({ name: v.slice(0, eq), value: Buffer.from(v.slice(eq + 1), 'utf8') });
    } else if (a.startsWith('-')) usage(`unknown option ${a}`);
    else o.host = a;
  }
  if (!o.key) usage('--key is required');
  if (!o.fingerprint) usage('--fingerprint is required');
  if (!o.host) usage('HOST[:PORT] is required');
  if (o.command.length === 0) usage('no command given');
  return o;
}

function parseHostPort(s) {
  let host = s, port = DEFAULT_PORT;
  const m = /^\[([^\]]+)\](?::([0-9]+))?$/.exec(s);
  if (m) { host = m[1]; if (m[2]) port = Number(m[2]); }
  else if ((s.match(/:/g) || []).length === 1) {
    const idx = s.lastIndexOf(':');
    host = s.slice(0, idx);
    port = Number(s.slice(idx + 1));
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535 || host === '') throw new Failure(`bad address ${s}`);
  return { host, port };
}

// ---------------------------------------------------------------------------------------------
// The client

function localSignalNumber(name) {
  const n = name.startsWith('SIG') ? name : 'SIG' + name;
  return os.constants.signals[n];
}

function run(opts) {
  let hostLabel = opts.host;
  const out = { stdout: process.stdout, stderr: process.stderr };
  let finished = false;

  function finish(code, message) {
    if (finished) return;
    finished = true;
    if (message) process.stderr.write(`rexec: ${hostLabel}: ${message}\n`);
    if (socket) socket.destroy();
    if (opts.stdin) process.stdin.destroy();
    // Let stdout/stderr flush before exiting (exitCode covers an event loop that simply drains).
    process.exitCode = code;
    setTimeout(() => process.exit(code), 5000).unref();
    let pending = 2;
    const done = () => { if (--pending === 0) process.exit(code); };
    out.stdout.write('', done);
    out.stderr.write('', done);
  }

  let socket = null;
  let key, hp;
  try {
    key = parseKeyFile(opts.key);
    hp = parseHostPort(opts.host);
  } catch (e) {
    finish(255, e instanceof Failure ? e.message : String(e));
    return;
  }

  const execId = 1;
  let state = 'handshake';  // handshake -> challenge -> authresult -> running
  let requestSent = false;
  let channelBinding = null;
  let serverNonce = null;
  let clientNonce = null;
  let rxbuf = Buffer.alloc(0);
  let received = { 1: 0n, 2: 0n };
  let closedByServer = false;
  let sigintCount = 0;
  let pipeSignalled = false;
  let resultTimer = null;

  const connectTimer = setTimeout(() => finish(255, 'connection timed out after 10 s'), 10000);

  // Signals (section 8.5): before the request is sent, exit 128+N; afterwards forward them.
  const forward = (sig) => {
    if (!requestSent) return finish(128 + os.constants.signals[sig], `interrupted by ${sig}`);
    let name = sig.slice(3);
    if (sig === 'SIGINT') {
      sigintCount++;
      if (sigintCount === 2) name = 'KILL';
      if (sigintCount >= 3) return finish(130, 'interrupted three times; disconnecting (the server kills the command)');
    }
    send(encodeFrame('signal', { exec_id: execId, name }));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => forward(sig));

  out.stdout.on('error', (e) => {
    if (e.code === 'EPIPE' && requestSent && !pipeSignalled) {
      pipeSignalled = true;
      send(encodeFrame('signal', { exec_id: execId, name: 'PIPE' }));
    }
  });
  out.stderr.on('error', () => {});

  function send(buf) {
    if (socket && !socket.destroyed) return socket.write(buf);
    return true;
  }

  socket = tls.connect({
    host: hp.host,
    port: hp.port,
    servername: net.isIP(hp.host) ? undefined : hp.host,
    minVersion: 'TLSv1.3',
    maxVersion: 'TLSv1.3',
    rejectUnauthorized: false,  // no PKI: the host key is pinned below (section 2.2)
  });
  socket.setNoDelay(true);
  socket.setKeepAlive(true, 30000);

  socket.once('secureConnect', () => {
    clearTimeout(connectTimer);
    // Section 2.4: pin check before a single byte of application data is sent.
    const cert = socket.getPeerX509Certificate();
    if (!cert) return finish(255, 'TLS handshake failed: the server sent no certificate');
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    const fp = fingerprintOfSpki(spki);
    if (fp !== opts.fingerprint) {
      return finish(255, `HOST KEY MISMATCH for ${hostLabel}: expected ${opts.fingerprint}, the server offered ${fp}`);
    }
    channelBinding = socket.exportKeyingMaterial(32, EXPORTER_LABEL);
    state = 'challenge';
    // Like the reference client: another 10 s from here until the request has been sent.
    const requestTimer = setTimeout(() => { if (!requestSent) finish(255, 'connection timed out after 10 s'); }, 10000);
    requestTimer.unref();
    socket.on('data', onData);
  });

  socket.on('error', (e) => {
    if (state === 'handshake') finish(255, `TLS handshake failed: ${e.message}`);
    else if (state === 'running' || state === 'authresult') finish(255, `connection lost before the command finished (${e.message}); output may be incomplete`);
    else finish(255, `connection closed during authentication (${e.message})`);
  });
  socket.on('end', () => { closedByServer = true; });
  socket.on('close', () => {
    const why = closedByServer ? 'closed by the server' : 'cut without a TLS close_notify';
    if (state === 'handshake') finish(255, 'TLS handshake failed: connection closed');
    else if (state === 'challenge') finish(255, `connection closed during authentication (${why})`);
    else finish(255, `connection lost before the command finished (${why}); output may be incomplete`);
  });

  function onData(chunk) {
    if (finished) return;
    rxbuf = rxbuf.length ? Buffer.concat([rxbuf, chunk]) : chunk;
    let frames;
    try {
      [frames, rxbuf] = decodeFrames(rxbuf);
    } catch (e) {
      return finish(255, `protocol error from the server: ${e.message}`);
    }
    try {
      for (const f of frames) {
        handleFrame(f);
        if (finished) return;
      }
    } catch (e) {
      if (e instanceof Failure) return finish(255, e.message);
      throw e;
    }
  }

  function handleFrame(f) {
    if (f.msg === 'error') throw new Failure(`server error: ${f.error.message}`);
    if (state === 'challenge') {
      if (f.msg !== 'auth_challenge') throw new Failure('protocol error: the server did not start with a challenge');
      const c = f.auth_challenge;
      if (c.protocol_version !== PROTOCOL_VERSION) throw new Failure(`the server speaks protocol version ${c.protocol_version}, this client 1`);
      if (c.server_nonce.length !== 32) throw new Failure('protocol error: bad challenge from the server');
      serverNonce = c.server_nonce;
      clientNonce = crypto.randomBytes(32);
      const features = (FEATURE_SHELL | FEATURE_SIGNALS) & c.features;
      if (opts.shell && (features & FEATURE_SHELL) === 0n) throw new Failure('the server does not offer shell mode');
      const response = encodeFrame('auth_response', {
        protocol_version: PROTOCOL_VERSION,
        features,
        key_id: key.keyId,
        client_nonce: clientNonce,
        proof: clientProof(key, serverNonce, clientNonce, channelBinding),
      });
      const argv = opts.shell ? [Buffer.from(opts.command.join(' '), 'utf8')] : opts.command.map((a) => Buffer.from(a, 'utf8'));
      const request = encodeFrame('exec_request', {
        exec_id: execId,
        argv,
        shell: opts.shell,
        cwd: opts.cwd === null ? undefined : Buffer.from(opts.cwd, 'utf8'),
        env: opts.env,
        stdin_open: opts.stdin,
        timeout_ms: opts.timeoutMs,
      });
      send(Buffer.concat([response, request]));  // one protocol step, one write (section 1)
      requestSent = true;
      state = 'authresult';
      if (opts.timeoutMs > 0) {
        resultTimer = setTimeout(() => finish(124, 'the server did not end the command within its timeout; giving up'), opts.timeoutMs + 15000);
        resultTimer.unref();
      }
      if (opts.stdin) startStdin();
      return;
    }
    if (state === 'authresult') {
      if (f.msg !== 'auth_result') throw new Failure('protocol error: expected the authentication result');
      const r = f.auth_result;
      if (!r.ok) throw new Failure(`authentication refused by the server: ${r.message.slice(0, 200)}`);
      if (key.kind === 'hmac') {
        const want = expectedServerProof(key, serverNonce, clientNonce, channelBinding);
        if (r.server_proof.length !== 32 || !crypto.timingSafeEqual(r.server_proof, want)) {
          throw new Failure('the server failed to prove it holds the key: not the expected server');
        }
      } else if (r.server_proof.length !== 0) {
        throw new Failure('the server failed to prove it holds the key: not the expected server');
      }
      state = 'running';
      return;
    }
    // running
    if (f.msg === 'output') {
      const o = f.output;
      if (o.exec_id !== execId) throw new Failure(`protocol error: output for unknown command ${o.exec_id}`);
      if (o.stream !== 1 && o.stream !== 2) throw new Failure(`protocol error: output on unknown stream ${o.stream}`);
      received[o.stream] += BigInt(o.data.length);
      const stream = o.stream === 1 ? out.stdout : out.stderr;
      if (!stream.write(o.data)) {
        socket.pause();
        stream.once('drain', () => socket.resume());
      }
      return;
    }
    if (f.msg === 'exec_result') return onResult(f.exec_result);
    throw new Failure(`protocol error: unexpected message type ${frameTypeNumber(f.msg)}`);
  }

  function onResult(r) {
    // Section 9.1, in this order.
    if (r.exec_id !== execId) throw new Failure(`protocol error: result for unknown command ${r.exec_id}`);
    if (r.stdout_bytes !== received[1] || r.stderr_bytes !== received[2]) {
      throw new Failure(`output truncated: received ${received[1]}/${r.stdout_bytes} stdout and ${received[2]}/${r.stderr_bytes} stderr bytes`);
    }
    if (!r.outcome) throw new Failure('protocol error: result without an outcome');
    // Section 9.2.
    switch (r.outcome) {
      case 'exit_code':
        if (r.exit_code < 0 || r.exit_code > 255) return finish(255, `the server reported an impossible exit code ${r.exit_code}`);
        return finish(r.exit_code);
      case 'signaled': {
        let n = localSignalNumber(r.signaled.name);
        if (n === undefined) n = r.signaled.number;
        if (n <= 0 || n > 127) return finish(255, `the command was killed by signal ${r.signaled.name}`);
        return finish(128 + n);
      }
      case 'timed_out':
        return finish(124, `command timed out after ${r.timed_out.timeout_ms / 1000} s; its process group was killed`);
      case 'start_failed': {
        const reason = r.start_failed.reason;
        const code = reason === 1 ? 127 : reason === 2 ? 126 : 255;
        return finish(code, `cannot run the command: ${r.start_failed.message}`);
      }
    }
  }

  function startStdin() {
    const input = process.stdin;
    input.on('data', (chunk) => {
      for (let off = 0; off < chunk.length; off += STDIN_CHUNK) {
        const ok = send(encodeFrame('stdin_data', { exec_id: execId, data: chunk.subarray(off, off + STDIN_CHUNK) }));
        if (!ok) {
          input.pause();
          socket.once('drain', () => input.resume());
        }
      }
    });
    input.on('end', () => send(encodeFrame('stdin_close', { exec_id: execId })));
    input.on('error', (e) => finish(255, `reading stdin: ${e.message}`));
  }
}

function frameTypeNumber(member) {
  for (const [num, [name]] of Object.entries(S.Frame)) if (name === member) return num;
  return '?';
}

// ---------------------------------------------------------------------------------------------
// --self-test: the worked examples of PROTOCOL.md (sections 2.3, 3.1, 6.5, 7.2, 12)

function selfTest() {
  const checks = [];
  const eq = (what, got, want) => checks.push([what, Buffer.isBuffer(got) ? got.toString('hex') : String(got), want]);
  const hex = (s) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

  // 2.3 fingerprint
  const host = makeKey('ed25519', hex('4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb'));
  eq('host public key', host.publicKey, '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c');
  eq('fingerprint', fingerprintOfSpki(Buffer.concat([ED25519_SPKI_PREFIX, host.publicKey])), 'SHA256:3rLe053Cb84OYIW2/DS/a1lBkTu/4uphQRPP+eAEwXA');

  // 3.1 frames
  eq('StdinClose frame', encodeFrame('stdin_close', { exec_id: 1 }), '0432020801');
  eq('Signal frame', encodeFrame('signal', { exec_id: 1, name: 'INT' }), '093a0708011203494e54');
  eq('StdinData 300 frame head', encodeFrame('stdin_data', { exec_id: 1, data: Buffer.alloc(300) }).subarray(0, 10), 'b4022ab102080112ac02');

  // 6.5 / 7.2 proofs and key ids
  const sn = hex('202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f');
  const cn = hex('404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f');
  const cb = hex('606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f');
  const ed = makeKey('ed25519', hex('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60'));
  eq('ed25519 public key', ed.publicKey, 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a');
  eq('ed25519 key id', ed.keyId, 'ed25519-78821eb46a4d8094dc0d3e04');
  const edProof = clientProof(ed, sn, cn, cb);
  eq('ed25519 proof', edProof, '2a5077db483e3f3c84e6c1c23cbe9450b56cc30511fe014152fe13ce2ddc41919da998f8f091be892ea3ac4cb10d5bb7df17046786b9dd41afb949ae44f5210d');
  const hm = makeKey('hmac', hex('000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f'));
  eq('hmac key id', hm.keyId, 'hmac-4f9609a91ff63f726159a14e');
  const hmProof = clientProof(hm, sn, cn, cb);
  eq('hmac proof', hmProof, 'c68e519bf49131d2584f638a0b51245bdb7b1c2756251a88ec7120b3840e1817');
  eq('hmac server proof', expectedServerProof(hm, sn, cn, cb), '34ae82d306fcc64cab73e66fa0d5e8a8c0b76b633cdc6833a1cfede0f5ad1b71');

  // 12 frames
  const req = { exec_id: 1, argv: [Buffer.from('echo'), Buffer.from('hi')], stdin_open: false, timeout_ms: 0, env: [] };
  const authEd = encodeFrame('auth_response', { protocol_version: 1, features: 3n, key_id: ed.keyId, client_nonce: cn, proof: edProof });
  eq('12.1 client write', Buffer.concat([authEd, encodeFrame('exec_request', req)]),
    '8d01128a01080110031a20656432353531392d373838323165623436613464383039346463306433653034' +
    '2220404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f' +
    '2a402a5077db483e3f3c84e6c1c23cbe9450b56cc30511fe014152fe13ce2ddc41919da998f8f091be892ea3ac4cb10d5bb7df17046786b9dd41afb949ae44f5210d' +
    '0e220c08011204656368 6f12026869'.replace(/ /g, ''));
  const authHm = encodeFrame('auth_response', { protocol_version: 1, features: 3n, key_id: hm.keyId, client_nonce: cn, proof: hmProof });
  eq('12.2 AuthResponse', authHm,
    '6912670801100 31a1d686d61632d346639363039613931666636336637323631353961313465'.replace(/ /g, '') +
    '2220404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f' +
    '2a20c68e519bf49131d2584f638a0b51245bdb7b1c2756251a88ec7120b3840e1817');
  const srv = hex('280a260801100f 1a20202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f' +
    '041a020801' +
    '261a2408011220 34ae82d306fcc64cab73e66fa0d5e8a8c0b76b633cdc6833a1cfede0f5ad1b71' +
    '0b420908011001 1a0368690a' +
    '0b4a0908011000 30034 0d209'.replace(/ /g, '') +
    '2f4a2d08022a29 0801 1225 6e6f7375636870726f673a206e6f20737563682066696c65206f72206469726563746f7279' +
    '191a171a15' + Buffer.from('authentication failed').toString('hex'));
  const [fr, rest] = decodeFrames(srv);
  eq('12 frames decoded', fr.map((f) => f.msg).join(','), 'auth_challenge,auth_result,auth_result,output,exec_result,exec_result,auth_result');
  eq('12 rest', rest.length, '0');
  eq('challenge features', fr[0].auth_challenge.features, '15');
  eq('hmac AuthResult proof', fr[2].auth_result.server_proof, '34ae82d306fcc64cab73e66fa0d5e8a8c0b76b633cdc6833a1cfede0f5ad1b71');
  eq('output data', fr[3].output.data, '68690a');
  eq('result exit_code 0 present', `${fr[4].exec_result.outcome}=${fr[4].exec_result.exit_code}`, 'exit_code=0');
  eq('result counts', `${fr[4].exec_result.stdout_bytes}/${fr[4].exec_result.stderr_bytes}/${fr[4].exec_result.wall_time_us}`, '3/0/1234');
  eq('start failed', `${fr[5].exec_result.start_failed.reason}:${fr[5].exec_result.start_failed.message}`, '1:nosuchprog: no such file or directory');
  eq('auth refused', `${fr[6].auth_result.ok}:${fr[6].auth_result.message}`, 'false:authentication failed');
  eq('cwd bytes frame', encodeFrame('exec_request', { exec_id: 2, argv: [Buffer.from('pwd')], cwd: hex('636166e9') }), '0f220d0802120370776422046361 66e9'.replace(/ /g, ''));

  // section 3 receiver rules
  const err = (buf) => { try { decodeFrames(buf); return 'ok'; } catch (e) { return e.message; } };
  eq('prefix 2^32', err(hex('8080808010')), 'malformed frame length');
  eq('prefix 6 bytes', err(hex('808080808000')), 'malformed frame length');
  eq('over the limit', err(encodeVarint(LIMIT_PAYLOAD + 1)), 'frame larger than the limit of 1048576 bytes');
  eq('empty payload', err(hex('00')), 'empty or unknown frame type');
  eq('unknown member only', err(hex('025800')), 'empty or unknown frame type');
  eq('bad utf-8', err(hex('0552030a01ff')), 'malformed frame');
  // protobuf rules found by experiment against rexecd (see the PROTOCOL.md section 4.2 additions)
  const er = (body) => { const p = Buffer.concat([hex('4a'), encodeVarint(body.length / 2), hex(body)]); return decodeFrames(Buffer.concat([encodeVarint(p.length), p]))[0][0].exec_result; };
  eq('unknown fixed64/fixed32/group skipped', er('0801' + '71' + '00'.repeat(8) + '7d00000000' + '7b087f7c' + '1007').exit_code, '7');
  eq('known field, wrong wire type: unknown', er('0a0101' + '1007').exec_id, '0');
  eq('uint32 keeps the low 32 bits', er('0881808080101007').exec_id, '1');
  eq('stray end group', err(hex('034a017c')), 'malformed frame');
  eq('11-byte varint', err(hex('0d4a0b08ffffffffffffffffffff01')), 'malformed frame');
  eq('non-minimal prefix', err(hex('80 04 32 02 08 01'.replace(/ /g, ''))), 'ok');

  let bad = 0;
  for (const [what, got, want] of checks) {
    const ok = got === want;
    if (!ok) bad++;
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${what}${ok ? '' : `: got ${got}, want ${want}`}\n`);
  }
  process.stdout.write(`self-test: ${checks.length - bad}/${checks.length} ok\n`);
  process.exit(bad ? 1 : 0);
}

export { encodeVarint, decodeVarint, encodeMessage, decodeMessage, encodeFrame, decodeFrames, S, makeKey, parseKeyFile,
  clientProof, expectedServerProof, fingerprintOfSpki, EXPORTER_LABEL };

// Run only when started as a program, not when imported (experiments import the codec).
if (process.argv[1] && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  if (process.argv[2] === '--self-test') selfTest();
  else run(parseArgs(process.argv.slice(2)));
}
