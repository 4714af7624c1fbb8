#!/bin/sh
# Installs what the aiplatform log indices need into Elasticsearch, in dependency order,
# through the REST API. Safe to run again: every request creates or replaces.
#
#   1. the lifecycle policy          ilm/*.json                 PUT  /_ilm/policy/<name>
#   2. component templates           component_templates/*.json PUT  /_component_template/<name>
#      (aiplatform-settings-single-node only when AIPLATFORM_ES_SINGLE_NODE=true)
#   3. the index template            index_templates/*.json     PUT  /_index_template/<name>
#   4. roles                         roles/*.json               PUT  /_security/role/<name>
#   5. the Logstash user             (LOGSTASH_INTERNAL_PASSWORD set)  PUT /_security/user/logstash_internal
#   6. Kibana's own user's password  (KIBANA_SYSTEM_PASSWORD set)      POST /_security/user/kibana_system/_password
#
# The file name (without .json) is the resource name. Environment:
#   ELASTIC_PASSWORD            password of ES_USER (required)
#   ES_URL                      default http://localhost:9200
#   ES_USER                     default elastic
#   ES_CACERT                   CA file for an https ES_URL
#   ES_WAIT_SECONDS             how long to wait for the cluster to answer, default 180
#   AIPLATFORM_ES_SINGLE_NODE   true on a one-node cluster (one shard, no replicas)
#   LOGSTASH_INTERNAL_PASSWORD, KIBANA_SYSTEM_PASSWORD   see steps 5 and 6
#
# Credentials go to curl on its standard input, never on its command line.
set -eu

ES_URL="${ES_URL:-http://localhost:9200}"
ES_USER="${ES_USER:-elastic}"
: "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD to the password of $ES_USER}"
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
umask 077

# A password goes into a JSON string and a curl config string: refuse what would need escaping.
check_password() {
    case "$2" in
        *'"'* | *\\* | '')
            echo "apply.sh: $1 must be non-empty and contain no double quote or backslash" >&2
            exit 2
            ;;
    esac
    if printf '%s' "$2" | LC_ALL=C grep -q '[[:cntrl:]]'; then
        echo "apply.sh: $1 must not contain control characters" >&2
        exit 2
    fi
}
check_password ELASTIC_PASSWORD "$ELASTIC_PASSWORD"

# es METHOD PATH [BODY_FILE]: one request; prints the answer and fails on a non-2xx status.
es() {
    method="$1" path="$2" body="${3:-}"
    set -- --silent --show-error --max-time 60 --output "$tmp/answer" --write-out '%{http_code}' \
        --request "$method" --header 'Content-Type: application/json' --header 'Expect:'
    if [ -n "${ES_CACERT:-}" ]; then set -- "$@" --cacert "$ES_CACERT"; fi
    if [ -n "$body" ]; then set -- "$@" --data-binary "@$body"; fi
    status="$(printf 'user = "%s:%s"\n' "$ES_USER" "$ELASTIC_PASSWORD" |
        curl --config - "$@" "$ES_URL$path")" || status="000"
    case "$status" in
        2??)
            echo "$method $path: $status"
            ;;
        *)
            echo "$method $path: $status" >&2
            cat "$tmp/answer" >&2 2>/dev/null || true
            echo >&2
            return 1
            ;;
    esac
}

echo "waiting for Elasticsearch at $ES_URL"
waited=0
until es GET "/_cluster/health?wait_for_status=yellow&timeout=5s" >/dev/null 2>&1; do
    waited=$((waited + 5))
    if [ "$waited" -ge "${ES_WAIT_SECONDS:-180}" ]; then
        es GET "/_cluster/health" || true
        echo "apply.sh: Elasticsearch did not become ready in ${ES_WAIT_SECONDS:-180} s" >&2
        exit 1
    fi
    sleep 5
done

put_each() { # DIR PATH_PREFIX
    for file in "$here/$1"/*.json; do
        name="$(basename "$file" .json)"
        if [ "$name" = aiplatform-settings-single-node ] &&
            [ "${AIPLATFORM_ES_SINGLE_NODE:-false}" != true ]; then
            continue
        fi
        es PUT "$2/$name" "$file"
    done
}

put_each ilm /_ilm/policy
put_each component_templates /_component_template
put_each index_templates /_index_template
put_each roles /_security/role

if [ -n "${LOGSTASH_INTERNAL_PASSWORD:-}" ]; then
    check_password LOGSTASH_INTERNAL_PASSWORD "$LOGSTASH_INTERNAL_PASSWORD"
    printf '{"password":"%s","roles":["aiplatform_logstash_writer"],"full_name":"aiplatform Logstash pipeline"}\n' \
        "$LOGSTASH_INTERNAL_PASSWORD" >"$tmp/user.json"
    es PUT /_security/user/logstash_internal "$tmp/user.json"
fi
if [ -n "${KIBANA_SYSTEM_PASSWORD:-}" ]; then
    check_password KIBANA_SYSTEM_PASSWORD "$KIBANA_SYSTEM_PASSWORD"
    printf '{"password":"%s"}\n' "$KIBANA_SYSTEM_PASSWORD" >"$tmp/password.json"
    es POST /_security/user/kibana_system/_password "$tmp/password.json"
fi
echo "Elasticsearch is set up for the aiplatform log indices"
