#!/usr/bin/env bash
# Interoperability test: the independent Node.js client (rexec_client.mjs, written from
# docs/PROTOCOL.md alone) against the real rexecd on 127.0.0.1.
#   tests/interop/run.sh [BUILD_DIR]     BUILD_DIR defaults to build/ of this repository
# Needs: node (18+; $NODE overrides the command), BUILD_DIR/daemon/rexecd, BUILD_DIR/client/rexec-keygen.
# Prints one line per case and finally "N passed, M failed"; exits non-zero if any case failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build="${1:-$here/../../build}"
node="${NODE:-node}"
client="$here/rexec_client.mjs"
rexecd="$build/daemon/rexecd"
keygen="$build/client/rexec-keygen"
for f in "$rexecd" "$keygen"; do
  [ -x "$f" ] || { echo "run.sh: $f is missing (build rexecd and rexec-keygen first)" >&2; exit 2; }
done
command -v "$node" >/dev/null || { echo "run.sh: node ($node) not found" >&2; exit 2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/rexec-interop.XXXXXX")"
passed=0
failed=0
daemon_pid=""
drain_pid=""
log="$tmp/rexecd.log"

pass() { passed=$((passed + 1)); echo "PASS $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1: $2"; }

finish() {
  local status=$?
  set +e
  if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then fail "script" "aborted with status $status"; fi
  if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM "$daemon_pid"
    wait "$daemon_pid"
    local rc=$?
    if [ "$rc" -eq 0 ]; then pass "daemon exits 0 on SIGTERM"; else fail "daemon exits 0 on SIGTERM" "exit status $rc"; fi
  fi
  [ -n "$drain_pid" ] && wait "$drain_pid"
  if [ -f "$log" ] && [ -n "${expected_auths:-}" ]; then
    # Every authentication the daemon logged is one of ours; the wrong-fingerprint connection has none.
    local auths refused
    auths=$(grep -c 'authenticated with key' "$log" || true)
    refused=$(grep -ci 'authentication failed' "$log" || true)
    if [ "$auths" -eq "$expected_auths" ] && [ "$refused" -eq 0 ]; then
      pass "daemon log: $auths authentications, exactly the clients that had the right fingerprint"
    else
      fail "daemon log" "$auths authentications (expected $expected_auths), $refused failed ones"
      sed 's/^/  rexecd: /' "$log"
    fi
  fi
  rm -rf "$tmp"
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && exit 0 || exit 1
}
trap finish EXIT

# --- keys, host key, daemon -----------------------------------------------------------------
: > "$tmp/rexecd.conf"  # an empty config, so /etc/rexecd/rexecd.conf is never read
"$keygen" -f "$tmp/id_ed25519" -C interop-ed25519 >  "$tmp/authorized_keys" 2>/dev/null
"$keygen" -f "$tmp/id_hmac" -C interop-hmac -t hmac-sha256 >> "$tmp/authorized_keys" 2>/dev/null
chmod 600 "$tmp/authorized_keys"
"$rexecd" --init-host-key "$tmp/host_key" --config "$tmp/rexecd.conf" >/dev/null
"$rexecd" --init-host-key "$tmp/other_host_key" --config "$tmp/rexecd.conf" >/dev/null
fp="$("$rexecd" --print-fingerprint --host-key "$tmp/host_key" --config "$tmp/rexecd.conf")"
other_fp="$("$rexecd" --print-fingerprint --host-key "$tmp/other_host_key" --config "$tmp/rexecd.conf")"
[[ "$fp" =~ ^SHA256:[A-Za-z0-9+/]{43}$ ]] || { echo "run.sh: bad fingerprint '$fp'" >&2; exit 2; }

mkfifo "$tmp/stderr.fifo"
"$rexecd" --listen 127.0.0.1:0 --authorized-keys "$tmp/authorized_keys" --host-key "$tmp/host_key" \
  --port-file "$tmp/port" --config "$tmp/rexecd.conf" 2>"$tmp/stderr.fifo" &
daemon_pid=$!
exec 3<"$tmp/stderr.fifo"
ready=""
while IFS= read -r -t 60 line <&3; do
  printf '%s\n' "$line" >> "$log"
  if [[ "$line" == *"rexecd ready"* ]]; then ready="$line"; break; fi
done
if [ -z "$ready" ]; then
  fail "daemon start" "no 'rexecd ready' line"; sed 's/^/  rexecd: /' "$log"; exit 1
fi
cat <&3 >> "$log" &  # keep draining the daemon's stderr
drain_pid=$!
exec 3<&-
port="$(head -n 1 "$tmp/port")"
[[ "$port" =~ ^[0-9]+$ ]] || { fail "daemon start" "bad port file"; exit 1; }
if [[ "$ready" == *"$fp"* ]]; then pass "daemon ready on 127.0.0.1:$port, host key $fp"; else fail "daemon ready line" "does not name $fp: $ready"; fi
addr="127.0.0.1:$port"
expected_auths=0

# --- helpers ----------------------------------------------------------------------------------
# rx [CLIENT OPTIONS] -- COMMAND...: runs the client with the Ed25519 key unless --key is given;
# stdin from $RX_STDIN (default /dev/null); sets $rc, output in $tmp/out and $tmp/err.
rx() {
  local keyopt=(--key "$tmp/id_ed25519") a
  for a in "$@"; do [ "$a" = "--key" ] && keyopt=(); [ "$a" = "--" ] && break; done
  local fpopt=(--fingerprint "$fp")
  for a in "$@"; do [ "$a" = "--fingerprint" ] && fpopt=(); [ "$a" = "--" ] && break; done
  rc=0
  timeout -s KILL --preserve-status 120 "$node" "$client" "${keyopt[@]}" "${fpopt[@]}" "$addr" "$@" \
    < "${RX_STDIN:-/dev/null}" > "$tmp/out" 2> "$tmp/err" || rc=$?
}
# check NAME WANT_RC WANT_STDOUT_FILE_OR_- WANT_STDERR(exact text, or "~REGEX" for one line matching)
check() {
  local name=$1 want_rc=$2 want_out=$3 want_err=$4 why=""
  [ "$rc" -eq "$want_rc" ] || why="exit status $rc, expected $want_rc"
  if [ -z "$why" ] && [ "$want_out" != "-" ] && ! cmp -s "$want_out" "$tmp/out"; then why="stdout differs: $(head -c 200 "$tmp/out" | od -An -c | head -3 | tr -s ' ')"; fi
  if [ -z "$why" ]; then
    if [[ "$want_err" == "~"* ]]; then
      [ "$(wc -l < "$tmp/err")" -eq 1 ] && grep -Eq "${want_err#\~}" "$tmp/err" || why="stderr is not one line matching ${want_err#\~}: $(head -c 300 "$tmp/err")"
    elif [ "$(cat "$tmp/err"; echo x)" != "${want_err}x" ]; then
      why="stderr differs: $(head -c 300 "$tmp/err")"
    fi
  fi
  if [ -z "$why" ]; then pass "$name"; else fail "$name" "$why"; fi
}
expect() { printf "$1" > "$tmp/want"; echo "$tmp/want"; }  # expected stdout as a file

# --- cases ------------------------------------------------------------------------------------
rc=0; "$node" "$client" --self-test > "$tmp/out" 2> "$tmp/err" || rc=$?
if [ "$rc" -eq 0 ]; then pass "worked examples of PROTOCOL.md ($(tail -n 1 "$tmp/out"))"; else fail "worked examples" "$(grep -v '^ok' "$tmp/out" | head -5)"; fi

rx -- echo hello;                                 expected_auths=$((expected_auths + 1))
check "echo hello: exit 0, stdout \"hello\\n\"" 0 "$(expect 'hello\n')" ""

rx -- sh -c 'exit 42';                            expected_auths=$((expected_auths + 1))
check "exit status 42 passed on" 42 "$(expect '')" ""

rx -- sh -c 'echo out; echo err >&2; echo out2; echo err2 >&2'; expected_auths=$((expected_auths + 1))
check "stderr kept apart from stdout" 0 "$(expect 'out\nout2\n')" $'err\nerr2\n'

rx -- sh -c 'kill -TERM $$';                      expected_auths=$((expected_auths + 1))
check "killed by SIGTERM -> 143" 143 "$(expect '')" ""

rx -- no-such-program-rexec-interop;              expected_auths=$((expected_auths + 1))
check "program not found -> 127" 127 "$(expect '')" "~^rexec: .*cannot run the command: no-such-program-rexec-interop: no such file or directory$"

rx -- /etc;                                       expected_auths=$((expected_auths + 1))
check "not executable (a directory) -> 126" 126 "$(expect '')" "~^rexec: .*cannot run the command: "

printf data > "$tmp/in"
RX_STDIN="$tmp/in" rx --stdin -- cat;             expected_auths=$((expected_auths + 1))
check "stdin forwarded and closed (cat)" 0 "$(expect 'data')" ""

RX_STDIN=/dev/null rx --stdin -- sh -c 'cat; echo "eof rc=$?"'; expected_auths=$((expected_auths + 1))
check "empty stdin: end of file at once" 0 "$(expect 'eof rc=0\n')" ""

head -c 1048576 /dev/urandom > "$tmp/random"
RX_STDIN="$tmp/random" rx --stdin -- cat;         expected_auths=$((expected_auths + 1))
if [ "$rc" -eq 0 ] && [ "$(sha256sum < "$tmp/random")" = "$(sha256sum < "$tmp/out")" ] && [ ! -s "$tmp/err" ]; then
  pass "1 MiB of random bytes through cat, same sha256"
else
  fail "1 MiB through cat" "exit $rc, $(wc -c < "$tmp/out") bytes back, stderr: $(head -c 200 "$tmp/err")"
fi

rx -- sh -c 'head -c 5000000 /dev/zero | tr "\0" x; printf "%s" "$(head -c 3000000 /dev/zero | tr "\0" y)" >&2'
expected_auths=$((expected_auths + 1))
if [ "$rc" -eq 0 ] && [ "$(wc -c < "$tmp/out")" -eq 5000000 ] && [ "$(tr -d x < "$tmp/out" | wc -c)" -eq 0 ] \
   && [ "$(wc -c < "$tmp/err")" -eq 3000000 ] && [ "$(tr -d y < "$tmp/err" | wc -c)" -eq 0 ]; then
  pass "5 MB stdout + 3 MB stderr relayed byte for byte, counts checked"
else
  fail "large output" "exit $rc, $(wc -c < "$tmp/out")/$(wc -c < "$tmp/err") bytes"
fi

rx --sh -- 'echo a b | tr a-z A-Z;' 'echo "$0"';   expected_auths=$((expected_auths + 1))
check "shell mode (words joined, /bin/sh -c)" 0 "$(expect 'A B\n/bin/sh\n')" ""

rx --env LANG=C --env TZ=UTC --env FOO=bar --cwd / -- sh -c 'pwd; echo "$LANG $TZ ${FOO-unset}"'
expected_auths=$((expected_auths + 1))
check "env (allow-listed kept, others dropped) and cwd" 0 "$(expect '/\nC UTC unset\n')" ""

rx --key "$tmp/id_hmac" -- sh -c 'echo hello; exit 3'; expected_auths=$((expected_auths + 1))
check "HMAC-SHA256 key (server proof verified)" 3 "$(expect 'hello\n')" ""

RX_STDIN="$tmp/in" rx --key "$tmp/id_hmac" --stdin -- cat; expected_auths=$((expected_auths + 1))
check "HMAC-SHA256 key with stdin" 0 "$(expect 'data')" ""

before=$(wc -l < "$log")
rx --fingerprint "$other_fp" -- sh -c 'echo SHOULD-NOT-RUN; touch "$1"' sh "$tmp/ran"
# Base64 fingerprints contain '+' and '/': escape them before using one in a regex.
other_fp_re=$(printf '%s' "$other_fp" | sed 's/[][\.*^$+?(){}|/]/\\&/g')
check "wrong fingerprint refused -> 255" 255 "$(expect '')" "~^rexec: .*(MISMATCH|mismatch).*$other_fp_re"
# a sentinel run afterwards: every log line since then must belong to the sentinel's connection
rx -- echo sentinel;                              expected_auths=$((expected_auths + 1))
new="$(tail -n +"$((before + 1))" "$log")"
peer="$(printf '%s\n' "$new" | sed -n 's/^<[0-9]>\([0-9.:]*\): authenticated with key.*/\1/p' | head -n 1)"
if [ "$rc" -eq 0 ] && [ ! -e "$tmp/ran" ] && [ -n "$peer" ] && ! printf '%s\n' "$new" | grep -v -F "$peer" | grep -q .; then
  pass "wrong fingerprint: the daemon logged nothing for it (no authentication, no command)"
else
  fail "wrong fingerprint: daemon log" "$(printf '%s\n' "$new" | head -5)"
fi

SECONDS=0
rx --timeout-ms 500 -- sh -c 'echo started; sleep 30';  expected_auths=$((expected_auths + 1))
elapsed=$SECONDS
check "timeout -> 124" 124 "$(expect 'started\n')" "~^rexec: .*timed out after 0.5 s"
[ "$elapsed" -lt 10 ] && pass "timeout: the command was ended in ${elapsed} s" || fail "timeout" "took ${elapsed} s"
