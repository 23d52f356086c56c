#!/usr/bin/env bash
# Installs what building, testing and the demo need, from Debian's apt.
# Idempotent: packages already present are not touched.
set -euo pipefail

pkgs=(
	gcc libc6-dev git                                                # go test -race (cgo)
	clang-14 llvm-14 clang-format-14 libbpf-dev linux-libc-dev bpftool # BPF build
	iproute2 nftables util-linux procps                              # labs (nsenter, sysctl)
	keepalived                                                       # VRRP interop peer
	haproxy                                                          # benchmark baseline
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $EUID -ne 0 ]]; then
		echo "deps: missing ${missing[*]}; run as root (sudo make deps)" >&2
		exit 1
	fi
	echo "deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The demo and tests need a bpffs at /sys/fs/bpf.
if [[ $EUID -eq 0 ]] && ! mountpoint -q /sys/fs/bpf; then
	mount -t bpf bpf /sys/fs/bpf
fi
