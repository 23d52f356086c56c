/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* xlb_consts.h: compile-time limits and protocol constants. Map sizes are
 * defaults: the loader resizes maps from [dataplane] before loading. */
#pragma once

#ifndef MAX_SERVICES
#define MAX_SERVICES 1024
#endif

#ifndef MAX_REALS
#define MAX_REALS 16384
#endif

#ifndef CONNTRACK_MAX
#define CONNTRACK_MAX 262144
#endif

#ifndef PERSISTENCE_MAX
#define PERSISTENCE_MAX 65536
#endif

/* Virtual services a single real address:port may serve at once (the
 * reverse path tries each of them to find the connection). */
#ifndef MAX_VIPS_PER_REAL
#define MAX_VIPS_PER_REAL 8
#endif

/* Slots of the per-CPU cache of clients' next hops (a power of two). */
#ifndef CLIENT_NEXTHOPS
#define CLIENT_NEXTHOPS 65536
#endif

/* Size of the sync_events ring (bytes, a power of two of pages). */
#ifndef SYNC_RING_BYTES
#define SYNC_RING_BYTES (4 << 20)
#endif

/* Connection entries are refreshed at most this often (seconds), so that
 * established flows don't write a shared cache line on every packet. */
#define REFRESH_INTERVAL 1

#define NSEC_PER_SEC 1000000000ULL

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

#define AF_INET 2
#define AF_INET6 10

#define IP_DF 0x4000
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
