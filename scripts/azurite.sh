#!/usr/bin/env bash
# Start or stop a private Azurite (Blob + Queue emulator) for tests and demos.
#
#   scripts/azurite.sh start DIR   # data in DIR, prints "BLOB_PORT QUEUE_PORT"
#   scripts/azurite.sh stop DIR
#
# It listens on 127.0.0.1 only, on two free ports, and writes DIR/ports
# ("BLOB_PORT QUEUE_PORT") and DIR/pid. Dev account: devstoreaccount1 with
# the well-known key; URLs are path-style:
#   http://127.0.0.1:BLOB_PORT/devstoreaccount1/<container>
# Installs nothing: setup.sh puts Azurite in $STYLIZE_CACHE/azurite.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
AZURITE="${AZURITE:-$STYLIZE_CACHE/azurite/node_modules/.bin/azurite}"

usage() { echo "usage: $0 start|stop DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
cmd="$1"; dir="$2"

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

answers() { # port: true once something accepts TCP connections there
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

case "$cmd" in
start)
    [ -x "$AZURITE" ] || { echo "azurite not installed at $AZURITE (run scripts/setup.sh)" >&2; exit 1; }
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
        echo "azurite already running in $dir (pid $(cat "$dir/pid"))" >&2
        cat "$dir/ports"
        exit 0
    fi
    # Azurite's debug log records full request URLs (SAS signatures
    # included), so it is written only on request.
    debug=()
    [ -n "${AZURITE_DEBUG:-}" ] && debug=(--debug "$dir/debug.log")
    blob="$(free_port)"; queue="$(free_port)"
    while [ "$queue" = "$blob" ]; do queue="$(free_port)"; done
    # Azurite also serves tables, by default on the fixed port 10002, which
    # a second instance would fail to bind: give it a free port too.
    table="$(free_port)"
    nohup "$AZURITE" --silent --disableTelemetry --skipApiVersionCheck --loose \
        --location "$dir/data" "${debug[@]}" \
        --blobHost 127.0.0.1 --blobPort "$blob" \
        --queueHost 127.0.0.1 --queuePort "$queue" \
        --tableHost 127.0.0.1 --tablePort "$table" \
        >"$dir/azurite.log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$dir/pid"
    echo "$blob $queue" >"$dir/ports"
    for _ in $(seq 150); do   # up to 15 s
        if answers "$blob" && answers "$queue"; then
            echo "$blob $queue"
            exit 0
        fi
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "azurite exited; see $dir/azurite.log" >&2
            rm -f "$dir/pid"
            exit 1
        fi
        sleep 0.1
    done
    echo "azurite did not answer within 15 s; see $dir/azurite.log" >&2
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/pid"
    exit 1
    ;;
stop)
    [ -f "$dir/pid" ] || { echo "no azurite pid file in $dir" >&2; exit 0; }
    pid="$(cat "$dir/pid")"
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$dir/pid"
    ;;
*) usage ;;
esac
