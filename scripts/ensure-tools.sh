#!/usr/bin/env bash
# Makes sure the real servers the tests and the demo run are installed: Prometheus (+ promtool),
# VictoriaMetrics (+ vmctl, vmbackup), InfluxDB 1.x, zstd and script(1). Installs what is missing
# when it can (root on Debian), says what it installs, and otherwise prints the exact command.
# Usage: ensure-tools.sh [prometheus-only]
set -euo pipefail

declare -A pkg_of=(
  [prometheus]=prometheus [promtool]=prometheus
  [victoria-metrics]=victoria-metrics [vmctl]=victoria-metrics [vmbackup]=victoria-metrics
  [influxd]=influxdb [zstd]=zstd [script]=bsdutils
)
wanted=(prometheus promtool victoria-metrics vmctl vmbackup influxd zstd script)
[ "${1:-}" = prometheus-only ] && wanted=(prometheus promtool)

missing=()
for bin in "${wanted[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${pkg_of[$bin]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "promvault: installing missing Debian packages: ${packages}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends ${packages} >/dev/null
  echo "promvault: installed ${packages}" >&2
  exit 0
fi
echo "promvault: missing ${packages}; install them with:" >&2
echo "  sudo apt-get update && sudo apt-get install -y ${packages}" >&2
exit 1
