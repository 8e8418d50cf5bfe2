# Sourced by the apply benchmarks: a lab of their own (up if needed, left up unless --down),
# a release build of virtplace, and helpers. Figures are medians where a script repeats.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
source scripts/toolchain

export VIRTPLACE_LAB_DIR=${VIRTPLACE_LAB_DIR:-/var/tmp/virtplace-lab-bench}
export VIRTPLACE_LAB_NET=${VIRTPLACE_LAB_NET:-127.0.9}
out=bench/out; mkdir -p "$out"
work=$(mktemp -d /tmp/virtplace-bench.XXXXXX)

take_down=0
for a in "$@"; do [[ $a == --down ]] && take_down=1; done
cleanup_bench() {
    rm -rf "$work"
    if ((take_down)); then lab/lab down >/dev/null 2>&1 || true; fi
}
trap cleanup_bench EXIT

say() { printf '%s\n' "$*" >&2; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", b - a }'; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

build_release() {
    say "building virtplace (release)…"
    swift build -c release --product virtplace >/dev/null
    vp_bin=$(swift build -c release --show-bin-path)/virtplace
}

lab_up() {
    say "lab: $VIRTPLACE_LAB_DIR ($VIRTPLACE_LAB_NET.x)"
    lab/lab up 3 >/dev/null
    # shellcheck disable=SC1091
    source "$VIRTPLACE_LAB_DIR/lab.env"
}

uri() { local v="LAB_URI_$1"; printf '%s' "${!v}"; }
vsh() { local i=$1; shift; virsh -q -c "$(uri "$i")" "$@"; }

# hosts: HOST1_STATE [CAPACITY_YAML]: the hosts: part of a placement for this lab
hosts_yaml() {
    local state1=${1:-active} capacity=${2:-}
    echo "hosts:"
    for i in 1 2 3; do
        local fd="LAB_FD_$i" st=active
        ((i == 1)) && st=$state1
        echo "  host$i:"
        echo "    uri: $(uri "$i")"
        echo "    faultDomain: ${!fd}"
        echo "    state: $st"
        if [[ -n $capacity ]]; then echo "    capacity: $capacity"; fi
    done
}

# vp ARGS...: the release virtplace with a state dir of this run
vp() { VIRTPLACE_DEBUG_CALLS=1 "$vp_bin" "$@" --state-dir "$work/state"; }

mutating_calls() { awk -F': ' '/^libvirt mutating calls: / { split($2, a, " "); n = a[1] } END { print n + 0 }' "$1"; }
