#!/bin/sh
# Imports the aiplatform data views and saved searches (saved-objects.ndjson) into Kibana
# through its saved objects API, replacing earlier versions of the same objects. Safe to run
# again.
#
# Environment:
#   ELASTIC_PASSWORD     password of KIBANA_USER (required)
#   KIBANA_URL           default http://localhost:5601
#   KIBANA_USER          default elastic
#   KIBANA_WAIT_SECONDS  how long to wait for Kibana to be available, default 300
#
# Credentials go to curl on its standard input, never on its command line.
set -eu

KIBANA_URL="${KIBANA_URL:-http://localhost:5601}"
KIBANA_USER="${KIBANA_USER:-elastic}"
: "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD to the password of $KIBANA_USER}"
case "$ELASTIC_PASSWORD" in
    *'"'* | *\\*)
        echo "import.sh: ELASTIC_PASSWORD must contain no double quote or backslash" >&2
        exit 2
        ;;
esac
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# kibana METHOD PATH [CURL ARGS...]: prints the HTTP status; the answer is in $tmp/answer.
kibana() {
    method="$1" path="$2"
    shift 2
    printf 'user = "%s:%s"\n' "$KIBANA_USER" "$ELASTIC_PASSWORD" |
        curl --config - --silent --show-error --max-time 60 --output "$tmp/answer" \
            --write-out '%{http_code}' --request "$method" --header 'kbn-xsrf: true' \
            --header 'Expect:' "$@" "$KIBANA_URL$path" || true
}

echo "waiting for Kibana at $KIBANA_URL"
waited=0
until [ "$(kibana GET /api/status)" = 200 ] && grep -q '"level":"available"' "$tmp/answer"; do
    waited=$((waited + 5))
    if [ "$waited" -ge "${KIBANA_WAIT_SECONDS:-300}" ]; then
        echo "import.sh: Kibana did not become available in ${KIBANA_WAIT_SECONDS:-300} s" >&2
        cat "$tmp/answer" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 5
done

status="$(kibana POST '/api/saved_objects/_import?overwrite=true' \
    --form "file=@$here/saved-objects.ndjson;type=application/ndjson")"
if [ "$status" != 200 ] || ! grep -q '"success":true' "$tmp/answer"; then
    echo "import.sh: POST /api/saved_objects/_import: $status" >&2
    cat "$tmp/answer" >&2
    echo >&2
    exit 1
fi
echo "POST /api/saved_objects/_import: $status"
echo "Kibana has the aiplatform data views and saved searches"
