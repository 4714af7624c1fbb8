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
    # The Redis exporter's tests start their own servers (master, replica, TLS, unix socket).
    "redis-server:redis-server"
    # Real receivers for the push backends' end-to-end tests (Prometheus' remote-write
    # receiver comes with the prometheus package above).
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
    if [ "${#missing[@]}" -gt 0 ]; then
        echo "installing Debian packages: ${missing[*]}"
        apt_install "${missing[@]}"
    fi
    if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
        echo "installing Python package prometheus_client"
        python3 -m pip install --quiet --disable-pip-version-check prometheus_client
    fi
    echo "promtool: $(promtool --version 2>&1 | head -1)"
    echo "prometheus_client: $(python3 -c 'import importlib.metadata as m; print(m.version("prometheus_client"))')"
}

# PostgreSQL and Redis run on the development and CI machines; start them if they stopped.
ensure_services() {
    if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
        if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
            echo "starting PostgreSQL"
            pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        fi
    fi
    if command -v redis-server >/dev/null 2>&1; then
        if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
            echo "starting Redis"
            redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        fi
    fi
}
