package loader

//go:generate go tool bpf2go -tags linux -target bpfel -type service_key -type service -type real -type real_key -type real_vip_set -type vip_port -type flow_key -type conn -type persist_key -type persist -type service_counters -type real_counters -type stat_id -type conn_state -type service_flags -type real_flags -type sched xlb ../bpf/xlb.c -- -I../bpf/include
