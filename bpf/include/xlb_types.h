/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xlb_types.h: structs and enums shared with Go (bpf2go -type). They are
 * what an operator reads in `bpftool map dump`, so ports are in host byte
 * order (80, not 20480) and addresses are bytes; the parser converts. Layouts
 * are explicit (no implicit padding) and checked. */
#pragma once

#include <linux/types.h>

#include "xlb_consts.h"

/* An IPv4 or IPv6 address as its bytes: IPv4 uses the first 4, the rest is
 * zero; the family travels next to it. */
struct addr {
	__u8 bytes[16];
} __attribute__((aligned(4)));

/* ADDR4 is an IPv4 address's 4 bytes as the __be32 a header holds. */
#define ADDR4(a) (*(__be32 *)(a).bytes)

/* services map key: a virtual service as (VIP, port, protocol). */
struct service_key {
	struct addr vip;
	__u16 port;
	__u8 proto;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 family; /* AF_INET or AF_INET6 */
};
_Static_assert(sizeof(struct service_key) == 20, "service_key ABI");

enum service_flags {
	SERVICE_F_NONE = 0,
	SERVICE_F_HASH_SOURCE = 1 << 0, /* sh/mh: pick by client hash, not cursor */
	SERVICE_F_HASH_PORT = 1 << 1,   /* hash the client port too (mh-port) */
	SERVICE_F_ANY_PACKET = 1 << 2,  /* schedule TCP flows seen mid-stream */
};

/* Scheduler as configured, for the operator reading the map. */
enum sched {
	SCHED_RR = 0,
	SCHED_WRR = 1,
	SCHED_LC = 2,
	SCHED_WLC = 3,
	SCHED_SH = 4,
	SCHED_MH = 5,
};

/* services map value. */
struct service {
	__u32 id; /* index into selection, cursors, service_stats */
	enum sched sched;
	enum service_flags flags;
	__u32 persist_timeout; /* seconds; 0 = no persistence */
	__u8 persist_prefix;   /* client address bits kept for persistence */
	__u8 pad[3];
};
_Static_assert(sizeof(struct service) == 20, "service ABI");

enum real_flags {
	REAL_F_NONE = 0,           /* known (connections may still use it) */
	REAL_F_AVAILABLE = 1 << 0, /* may take new connections (up, not drained) */
};

/* reals map value, indexed by real id. A real is one (service, address,
 * port): the same server behind two services has two ids. */
struct real {
	struct addr addr;
	__u16 port;
	__u8 family;
	__u8 pad;
	__u32 service_id;
	enum real_flags flags;
};
_Static_assert(sizeof(struct real) == 28, "real ABI");

/* real_vips map key: a real server's address as its replies show it. */
struct real_key {
	struct addr addr;
	__u16 port;
	__u8 proto;
	__u8 family;
};
_Static_assert(sizeof(struct real_key) == 20, "real_key ABI");

struct vip_port {
	struct addr vip;
	__u16 port;
	__u16 pad;
	__u32 real_id; /* the real's id in that service */
};

/* real_vips map value: the services a real address:port answers for. */
struct real_vip_set {
	__u32 count;
	struct vip_port vips[MAX_VIPS_PER_REAL];
};

/* conntrack map key: a connection as the client sent it. */
struct flow_key {
	struct addr client;
	struct addr vip;
	__u16 client_port;
	__u16 vip_port;
	__u8 proto;
	__u8 family;
	__u16 pad;
};
_Static_assert(sizeof(struct flow_key) == 40, "flow_key ABI");

/* Connection states, as IPVS names them. */
enum conn_state {
	CONN_NONE = 0,
	CONN_SYN_RECV = 1,    /* client SYN forwarded; inactive */
	CONN_ESTABLISHED = 2, /* handshake completed; active */
	CONN_FIN_WAIT = 3,    /* FIN seen from either side; inactive */
	CONN_CLOSE = 4,       /* RST seen; inactive */
	CONN_UDP = 5,         /* UDP flow; inactive, as IPVS counts it */
};

/* conntrack map value: where the connection goes (reals[real_id]). Kept
 * to 16 bytes: with the 40-byte key an entry costs the kernel 120 bytes. */
struct conn {
	__u32 real_id;
	__u32 last_seen; /* CLOCK_MONOTONIC seconds */
	enum conn_state state;
	__u16 service_id;
	__u16 pad;
};
_Static_assert(sizeof(struct conn) == 16, "conn ABI");

/* persistence map key: a client (masked by persistence_granularity) of a
 * service. */
struct persist_key {
	struct addr client;
	__u32 service_id;
};
_Static_assert(sizeof(struct persist_key) == 20, "persist_key ABI");

/* persistence map value: the client's real, IPVS's "template". */
struct persist {
	__u32 real_id;
	__u32 last_seen; /* CLOCK_MONOTONIC seconds */
};

/* service_stats (per CPU, by service id). */
struct service_counters {
	__u64 packets_in;
	__u64 bytes_in;
	__u64 packets_out;
	__u64 bytes_out;
	__u64 conns;
};

/* real_stats (per CPU, by real id). Active connections of a real are
 * conns_established - conns_est_closed, less what user space expires. */
struct real_counters {
	__u64 packets_in;
	__u64 bytes_in;
	__u64 packets_out;
	__u64 bytes_out;
	__u64 conns;             /* new connections scheduled to the real */
	__u64 conns_established; /* connections that became ESTABLISHED */
	__u64 conns_est_closed;  /* ESTABLISHED connections that saw FIN/RST */
};

/* Where the last route lookup sent packets to a host, reused until
 * expires (real_nexthops, client_nexthops). */
struct nexthop {
	__u32 ifindex;
	__u32 expires; /* CLOCK_MONOTONIC seconds */
	__u8 smac[6];
	__u8 dmac[6];
	__u16 max_len; /* longest datagram the route took (the MTU check) */
	__u16 pad;
};

/* client_nexthops slot: a direct-mapped cache of the next hop of replies
 * to a client (the slot is a hash of its address). */
struct client_nexthop {
	struct addr client;
	__u8 family; /* 0: empty */
	__u8 pad[3];
	struct nexthop nh;
};
_Static_assert(sizeof(struct client_nexthop) == 44, "client_nexthop ABI");

/* What a sync_events record reports. */
enum sync_event_type {
	SYNC_CONN_NEW = 1,     /* a connection was scheduled */
	SYNC_CONN_STATE = 2,   /* a connection changed state */
	SYNC_TEMPLATE_NEW = 3, /* a persistence template was made */
};

/* sync_events record: a change of the flow table for connection sync. */
struct sync_event {
	enum sync_event_type type;
	__u32 pad;
	struct flow_key flow; /* SYNC_CONN_*: the connection */
	struct conn conn;
	struct persist_key template; /* SYNC_TEMPLATE_NEW: the template */
	struct persist persist;
	__u32 pad2;
};
_Static_assert(sizeof(struct sync_event) == 96, "sync_event ABI");

/* stats (per CPU) indexed by reason: what happened to each frame. */
enum stat_id {
	STAT_PASS_NOT_IP = 0,  /* not IPv4/IPv6 (ARP, LLDP, ...) */
	STAT_PASS_NOT_SERVICE, /* IP, neither to a service nor from a tracked real */
	STAT_PASS_IPV6,        /* IPv6 is not forwarded yet */
	STAT_PASS_FRAGMENT,    /* IPv4 fragment: left to the kernel */
	STAT_PASS_NO_REAL,     /* service has no available real */
	STAT_PASS_TCP_NO_CONN, /* TCP non-SYN to a service, no connection */
	STAT_PASS_NO_NEIGH,    /* NAT done; kernel resolves the next hop */
	STAT_PASS_FIB,         /* NAT done; route is local / needs fragmenting (no DF) */
	STAT_PASS_TTL,         /* reply with TTL expiring: kernel sends ICMP */
	STAT_PASS_VLAN,        /* NAT done on a tagged frame; kernel forwards */
	STAT_FWD_TX,           /* forwarded out the ingress interface */
	STAT_FWD_REDIRECT,     /* forwarded to another interface */
	STAT_DROP_TRUNCATED,   /* frame ends inside a header */
	STAT_DROP_BAD_IP,      /* IPv4 version/IHL wrong */
	STAT_DROP_BAD_CSUM,    /* IPv4 header checksum wrong (to/from a service) */
	STAT_DROP_BAD_LENGTH,  /* IP total length disagrees with the frame */
	STAT_DROP_BAD_L4,      /* TCP data offset / UDP length wrong */
	STAT_DROP_TTL,         /* TTL would expire on the way to a real */
	STAT_DROP_UNREACHABLE, /* route is blackhole/unreachable/prohibit */
	STAT_DROP_CONNTRACK,   /* could not insert the connection */
	STAT_SYNC_LOST,        /* sync event not queued: sync_events full */
	STAT_PASS_ICMP,        /* ICMP error not about a tracked connection */
	STAT_TX_FRAG_NEEDED,   /* too big for the route to the real, DF: ICMP
	                        * fragmentation needed sent back to the client */
	STAT_PASS_FRAG_NEEDED, /* reply too big for the route to the client, DF:
	                        * un-NATed to the kernel, which tells the real */
	STAT_ICMP_TRANSLATED,  /* ICMP error about a connection translated (an
	                        * event, like sync_lost: the frame's verdict is
	                        * counted too) */
	STAT_MAX,
};

/* The stats map has room for reasons added later, so that an upgrade
 * adopts the pinned counters instead of refusing a map of another size. */
#define STAT_SLOTS 64
_Static_assert(STAT_MAX <= STAT_SLOTS, "stats map too small");
