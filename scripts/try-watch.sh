#!/usr/bin/env bash
# Try `stylize watch` on this machine, as the README shows it: a private
# Azurite (the Blob and Queue emulator setup.sh installed) stands in for
# the storage account, this script plays Event Grid, and the watcher turns
# an upload into a stylized video.
#
#   scripts/try-watch.sh [VIDEO]     # a 2 s test clip when none is given
#
# What it does, each step printed:
#   1. starts Azurite in a temporary folder (stopped at the end);
#   2. makes the `uploads` container and the `events` queue and uploads
#      VIDEO as uploads/VIDEO's name;
#   3. puts on the queue the BlobCreated event Event Grid would deliver;
#   4. runs `stylize watch` with account-key connection strings (Azurite's
#      well-known development key) until the queue is empty;
#   5. lists the outputs container and downloads the result next to VIDEO.
# In Azure the same watcher takes SAS URLs or --managed-identity instead
# (see the README, "Upload trigger").
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=env.sh
source "$here/env.sh"
stylize="${STYLIZE_BIN:-$(command -v stylize || echo "$here/../target/release/stylize")}"
say() { echo "try-watch: $*" >&2; }

work="$(mktemp -d)"
trap '"$here/azurite.sh" stop "$work/azurite" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

video="${1:-}"
if [ -z "$video" ]; then
    video="$work/clip.mp4"
    say "no video given: making a 2 s test clip"
    ffmpeg -v error -f lavfi -i testsrc2=s=320x180:r=25:d=2 -f lavfi -i sine=d=2 \
        -c:v libx264 -preset ultrafast -g 25 -c:a aac "$video"
fi
[ -f "$video" ] || { say "error: $video: no such file"; exit 1; }
name="$(basename "$video")"

say "1/5 starting Azurite"
read -r blob_port queue_port < <("$here/azurite.sh" start "$work/azurite")
blob="http://127.0.0.1:$blob_port/devstoreaccount1"
queue="http://127.0.0.1:$queue_port/devstoreaccount1"
key="Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
conn="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=$key;BlobEndpoint=$blob;QueueEndpoint=$queue"

say "2/5 making uploads/ and the events queue, uploading $name"
say "3/5 putting the BlobCreated event on the queue"
# Python's standard library signs an account SAS (the same rule as
# stylize's own) and makes the REST calls: nothing to install.
python3 - "$blob" "$queue" "$key" "$video" "$name" <<'PY'
import base64, datetime, hashlib, hmac, json, sys, urllib.parse, urllib.request
blob, queue, key, path, name = sys.argv[1:]
expiry = (datetime.datetime.utcnow() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
fields = ["devstoreaccount1", "rwdlacup", "bq", "sco", "", expiry, "", "http", "2021-08-06", "", ""]
sig = base64.b64encode(hmac.new(base64.b64decode(key), "\n".join(fields).encode(), hashlib.sha256).digest()).decode()
sas = urllib.parse.urlencode({"sv": "2021-08-06", "ss": "bq", "srt": "sco", "sp": "rwdlacup", "se": expiry, "spr": "http", "sig": sig})
def call(method, url, data=b"", headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers={"x-ms-version": "2021-08-06", **(headers or {})})
    try:
        urllib.request.urlopen(req).read()
    except urllib.error.HTTPError as e:
        if e.code != 409:  # already there
            raise
call("PUT", f"{blob}/uploads?restype=container&{sas}")
call("PUT", f"{queue}/events?{sas}")
with open(path, "rb") as f:
    call("PUT", f"{blob}/uploads/{urllib.parse.quote(name)}?{sas}", f.read(), {"x-ms-blob-type": "BlockBlob"})
event = [{
    "topic": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1",
    "subject": f"/blobServices/default/containers/uploads/blobs/{name}",
    "eventType": "Microsoft.Storage.BlobCreated", "id": "try-watch-1", "eventTime": expiry,
    "data": {"api": "PutBlob", "url": f"{blob}/uploads/{urllib.parse.quote(name)}", "blobType": "BlockBlob"},
    "dataVersion": "", "metadataVersion": "1",
}]
text = base64.b64encode(json.dumps(event).encode()).decode()  # as Event Grid writes it
call("POST", f"{queue}/events/messages?{sas}", f"<QueueMessage><MessageText>{text}</MessageText></QueueMessage>".encode())
PY

say "4/5 stylize watch (until the queue is empty)"
"$stylize" watch --queue "$conn;Queue=events" --inputs "$conn;Container=uploads" \
    -o "$conn;Container=outputs" --until-empty

say "5/5 the result"
"$stylize" jobs list -o "$conn;Container=outputs"
out="$(dirname "$video")/${name%.*}.watched.mp4"
python3 - "$blob" "$key" "$out" <<'PY'
import base64, datetime, hashlib, hmac, sys, urllib.parse, urllib.request, re
blob, key, out = sys.argv[1:]
expiry = (datetime.datetime.utcnow() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
fields = ["devstoreaccount1", "rl", "b", "sco", "", expiry, "", "http", "2021-08-06", "", ""]
sig = base64.b64encode(hmac.new(base64.b64decode(key), "\n".join(fields).encode(), hashlib.sha256).digest()).decode()
sas = urllib.parse.urlencode({"sv": "2021-08-06", "ss": "b", "srt": "sco", "sp": "rl", "se": expiry, "spr": "http", "sig": sig})
listing = urllib.request.urlopen(f"{blob}/outputs?restype=container&comp=list&{sas}").read().decode()
names = [n for n in re.findall(r"<Name>([^<]+)</Name>", listing) if not n.startswith(("jobs/", ".")) and n.endswith(".mp4")]
if len(names) != 1:
    sys.exit(f"try-watch: error: expected one output, found {names}")
with open(out, "wb") as f:
    f.write(urllib.request.urlopen(f"{blob}/outputs/{urllib.parse.quote(names[0])}?{sas}").read())
print(f"try-watch: outputs/{names[0]} downloaded to {out}", file=sys.stderr)
PY
