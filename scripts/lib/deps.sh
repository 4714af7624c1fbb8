# Shared by the scripts in scripts/: install test dependencies and start local services,
# doing nothing when they are already there.

# Debian packages the tests need, and a command each one provides.
DEB_PACKAGES=(
    "prometheus:promtool"
    "wrk:wrk"
    # The Go exporters our binaries are compared with, name by name, in the compatibility tests.
    "prometheus-node-exporter:prometheus-node-exporter"
    "prometheus-postgres-exporter:prometheus-postgres-exporter"
    "prometheus-redis-exporter:prometheus-redis-exporter"
    # The Redis exporter's tests start their own servers (master, replica, TLS, unix socket)
    # and expect one on 127.0.0.1:6379.
    "redis-server:redis-server"
    # monitoring/: amtool checks the Alertmanager configuration; the live tests run
    # Alertmanager and Pushgateway beside Prometheus. The push backends' end-to-end tests use
    # the Pushgateway too, and VictoriaMetrics (Prometheus' remote-write receiver comes with
    # the prometheus package above).
    "prometheus-alertmanager:amtool"
    "prometheus-pushgateway:prometheus-pushgateway"
    "victoria-metrics:victoria-metrics"
)

apt_updated=0
apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    if [ "$apt_updated" -eq 0 ]; then
        $sudo apt-get update -qq
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_test_deps() {
    local missing=()
    for entry in "${DEB_PACKAGES[@]}"; do
        local pkg="${entry%%:*}" cmd="${entry#*:}"
        if ! command -v "$cmd" >/dev/null 2>&1 && ! dpkg -s "$pkg" >/dev/null 2>&1; then
            missing+=("$pkg")
        fi
    done
    # The PostgreSQL exporter's tests start their own clusters (initdb, pg_basebackup; not on
    # PATH on Debian) and expect the machine's cluster on 127.0.0.1:5432.
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null 2>&1; then
        missing+=("postgresql")
    fi
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing Debian packages: ${missing[*]}"
        apt_install "${missing[@]}"
    fi
    if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
        echo "installing Python package prometheus_client"
        python3 -m pip install --quiet --disable-pip-version-check prometheus_client
    fi
    # The OTLP exporter's tests decode what they capture with the reference Python classes.
    if ! python3 -c 'import opentelemetry.proto.collector.metrics.v1.metrics_service_pb2' >/dev/null 2>&1; then
        echo "installing Python package opentelemetry-proto"
        python3 -m pip install --quiet --disable-pip-version-check opentelemetry-proto
    fi
    ensure_elk_validators
    echo "promtool: $(promtool --version 2>&1 | head -1)"
    echo "amtool: $(amtool --version 2>&1 | head -1)"
    echo "prometheus_client: $(python3 -c 'import importlib.metadata as m; print(m.version("prometheus_client"))')"
    echo "opentelemetry-proto: $(python3 -c 'import importlib.metadata as m; print(m.version("opentelemetry-proto"))')"
}

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The machine's PostgreSQL cluster as the tests use it: running on 127.0.0.1:5432, trust
# authentication for TCP connections from 127.0.0.1 (a first pg_hba.conf line, which wins over
# Debian's scram-sha-256 default), and the databases test, root and postgres.
ensure_postgres() {
    local version hba
    version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)
    if [ -z "$version" ]; then
        echo "PostgreSQL is installed but has no cluster under /etc/postgresql" >&2
        return 1
    fi
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! as_root grep -qE '^host[[:space:]]+all[[:space:]]+all[[:space:]]+127\.0\.0\.1/32[[:space:]]+trust' "$hba"; then
        echo "PostgreSQL: trust authentication for 127.0.0.1 in $hba"
        as_root sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
        if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
            as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
        fi
    fi
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
        echo "starting PostgreSQL $version"
        as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    fi
    local db
    for db in test root; do
        if [ "$(psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" != 1 ]; then
            echo "PostgreSQL: creating database $db"
            psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE \"$db\""
        fi
    done
}

# PostgreSQL and Redis run on the development and CI machines: set up and start them when
# they are installed but stopped (ensure_test_deps installs them).
ensure_services() {
    if command -v pg_ctlcluster >/dev/null 2>&1; then
        ensure_postgres
    fi
    if command -v redis-server >/dev/null 2>&1; then
        if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
            echo "starting Redis"
            redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        fi
    fi
}

# Offline validators for the log pipeline, the indices, the compose stack and the Kubernetes
# manifests under monitoring/ and deploy/ (no Logstash, Elasticsearch or Docker runs here).
# Python ones go into the system python3; the npm ones are unpacked (no install scripts, no
# dependencies) into .tools/npm/, which git ignores.
ELK_PIP_PACKAGES=(
    "check_jsonschema:check-jsonschema==0.39.0"
    "kubernetes_validate:kubernetes-validate==1.37.0"
    "logstash_pipeline_parser:logstash-pipeline-parser==0.0.3"
    "pygrok:pygrok==1.0.0"
    "yaml:PyYAML"
)
# The compiled Elasticsearch API specification, and the ECS field reference.
ELK_NPM_PACKAGES=(
    "@elastic/request-converter@9.5.0:dist/schema.json"
    "@elastic/ecs@9.4.0:generated/ecs_flat.js"
)

ensure_elk_validators() {
    # shellcheck for the setup scripts; busybox to run them under the ash of the curl image.
    local debs=()
    command -v shellcheck >/dev/null 2>&1 || debs+=(shellcheck)
    command -v busybox >/dev/null 2>&1 || debs+=(busybox)
    if [ "${#debs[@]}" -gt 0 ]; then
        echo "installing Debian packages: ${debs[*]}"
        apt_install "${debs[@]}"
    fi
    local missing=()
    for entry in "${ELK_PIP_PACKAGES[@]}"; do
        python3 -c "import ${entry%%:*}" >/dev/null 2>&1 || missing+=("${entry#*:}")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing Python packages: ${missing[*]}"
        python3 -m pip install --quiet --disable-pip-version-check "${missing[@]}"
    fi
    local root
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
    for entry in "${ELK_NPM_PACKAGES[@]}"; do
        local spec="${entry%%:*}" file="${entry#*:}"
        local dir="$root/.tools/npm/${spec//\//+}"
        [ -f "$dir/package/$file" ] && continue
        echo "unpacking npm package $spec"
        rm -rf "$dir" && mkdir -p "$dir"
        (cd "$dir" && npm pack --silent "$spec" >/dev/null && tar xzf ./*.tgz && rm -f ./*.tgz)
    done
    # The ECS reference ships as a JavaScript module; the tests read it as JSON.
    local ecs="$root/.tools/npm/@elastic+ecs@9.4.0"
    if [ ! -f "$ecs/ecs_flat.json" ]; then
        node -e 'process.stdout.write(JSON.stringify(require(process.argv[1]).EcsFlat))' \
            "$ecs/package/generated/ecs_flat.js" >"$ecs/ecs_flat.json.tmp"
        mv "$ecs/ecs_flat.json.tmp" "$ecs/ecs_flat.json"
    fi
}
