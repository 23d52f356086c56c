/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xlb_maps.h: every map of the dataplane. All are pinned by name under the
 * loader's pin directory so that they outlive an xlbd restart; bpftool shows
 * their fields by name. */
#pragma once

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "xlb_consts.h"
#include "xlb_types.h"

/* (VIP, port, proto) -> service; written by loader.SetService. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_SERVICES);
	__type(key, struct service_key);
	__type(value, struct service);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} services SEC(".maps");

/* real id -> real server; written by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct real);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} reals SEC(".maps");

/* real address:port -> the VIPs it serves, for the reverse (SNAT) path. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_REALS);
	__type(key, struct real_key);
	__type(value, struct real_vip_set);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_vips SEC(".maps");

/* A selection table: slot 0 holds the number of entries N, slots 1..N the
 * real ids a new connection is given. User space builds a whole table and
 * swaps it in, so no packet sees a half-written one. */
struct ring {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_INNER_MAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
};

/* service id -> its selection table. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__array(values, struct ring);
} selection SEC(".maps");

/* service id -> position of the next pick in a cursor-mode table. Shared
 * by all CPUs (atomic add) so round robin is exact across CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cursors SEC(".maps");

/* Tracked connections, keyed as the client sent them. One entry serves
 * both directions: replies find it through real_vips. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CONNTRACK_MAX);
	__type(key, struct flow_key);
	__type(value, struct conn);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

/* Persistence templates: (service, masked client) -> real. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, PERSISTENCE_MAX);
	__type(key, struct persist_key);
	__type(value, struct persist);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} persistence SEC(".maps");

/* Changes of the flow table for connection sync, when enabled. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SYNC_RING_BYTES);
} sync_events SEC(".maps");

/* Records in sync_events are struct sync_event; this unused pointer puts
 * the type in BTF for bpf2go. */
const struct sync_event *sync_event_type_anchor __attribute__((unused));

/* Set by the loader before load: emit sync_events. */
volatile const __u32 sync_enabled = 0;

/* Frame verdict counters by enum stat_id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_SLOTS);
	__type(key, enum stat_id);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Per service counters, by service id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct service_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} service_stats SEC(".maps");

/* Per real, per CPU: the next hop of its packets, cached for a second so
 * that established flows skip the route lookup. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct nexthop);
} real_nexthops SEC(".maps");

/* Per CPU, slot hash(client): the next hop of replies to that client,
 * cached for a second so that established flows skip the route lookup. A
 * direct-mapped cache: two clients in one slot take turns. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CLIENT_NEXTHOPS);
	__type(key, __u32);
	__type(value, struct client_nexthop);
} client_nexthops SEC(".maps");

/* Per real counters and connection state changes, by real id. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAX_REALS);
	__type(key, __u32);
	__type(value, struct real_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} real_stats SEC(".maps");
