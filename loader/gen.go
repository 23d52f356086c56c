package loader

// The directive carries every compiler flag, so `go generate` alone
// reproduces the committed objects (TestGeneratedUpToDate relies on it).
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -tags linux -target bpfel -type service_key -type service -type real -type real_key -type real_vip_set -type vip_port -type flow_key -type conn -type persist_key -type persist -type service_counters -type real_counters -type stat_id -type conn_state -type service_flags -type real_flags -type sched -type sync_event -type sync_event_type -type nexthop -type client_nexthop xlb ../bpf/xlb.c -- -O2 -g -Wall -Werror -mcpu=v3 -I../bpf/include -I/usr/include/x86_64-linux-gnu -I/usr/include/aarch64-linux-gnu
