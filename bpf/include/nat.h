/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* nat.h: the LVS-NAT job: pick a real for a new connection (persistence,
 * selection table), track it, rewrite the destination on the way in and
 * the source on the way back, and send the frame on. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "csum.h"
#include "parse.h"
#include "stats.h"
#include "xlb_maps.h"

#define NO_REAL 0xffffffff

static __always_inline __u32 now_sec(void)
{
	return bpf_ktime_get_coarse_ns() / NSEC_PER_SEC;
}

/* sync_reserve takes a zeroed record of sync_events, or NULL when sync is
 * off or the ring is full (counted: the syncer resynchronises). */
static __always_inline struct sync_event *sync_reserve(enum sync_event_type type)
{
	struct sync_event *ev;

	if (!sync_enabled)
		return NULL;
	ev = bpf_ringbuf_reserve(&sync_events, sizeof(*ev), 0);
	if (!ev) {
		count(STAT_SYNC_LOST, 0);
		return NULL;
	}
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->type = type;
	return ev;
}

/* sync_conn reports a new or changed connection to connection sync. */
static __always_inline void sync_conn(
    enum sync_event_type type, struct flow_key *fk, struct conn *ct)
{
	struct sync_event *ev = sync_reserve(type);

	if (!ev)
		return;
	ev->flow = *fk;
	ev->conn = *ct;
	bpf_ringbuf_submit(ev, 0);
}

/* sync_template reports a new persistence template. */
static __always_inline void sync_template(struct persist_key *pk, struct persist *t)
{
	struct sync_event *ev = sync_reserve(SYNC_TEMPLATE_NEW);

	if (!ev)
		return;
	ev->template = *pk;
	ev->persist = *t;
	bpf_ringbuf_submit(ev, 0);
}

/* hash32 mixes a word into a running hash (murmur3's finaliser). */
static __always_inline __u32 hash32(__u32 h, __u32 v)
{
	h ^= v;
	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

/* pick_from_table takes a real from the service's selection table: by
 * client hash (sh, mh) or by the shared cursor (rr, wrr, lc, wlc). It
 * skips up to three unavailable entries, which a drain can leave for the
 * moment before user space swaps in the new table. */
static __always_inline __u32 pick_from_table(struct service *svc, struct packet *p)
{
	__u32 sid = svc->id, zero = 0, n, base, i;
	__u32 *np, *rid;
	struct real *r;
	void *ring;

	ring = bpf_map_lookup_elem(&selection, &sid);
	if (!ring)
		return NO_REAL;
	np = bpf_map_lookup_elem(ring, &zero);
	if (!np || *np == 0)
		return NO_REAL;
	n = *np;
	if (svc->flags & SERVICE_F_HASH_SOURCE) {
		base = hash32(0x9e3779b9, p->ip->saddr);
		if (svc->flags & SERVICE_F_HASH_PORT)
			base = hash32(base, p->sport);
	} else {
		__u32 *cur = bpf_map_lookup_elem(&cursors, &sid);

		if (!cur)
			return NO_REAL;
		base = __sync_fetch_and_add(cur, 1);
	}
	for (i = 0; i < 4; i++) {
		__u32 slot = (base + i) % n + 1;

		rid = bpf_map_lookup_elem(ring, &slot);
		if (!rid)
			return NO_REAL;
		r = bpf_map_lookup_elem(&reals, rid);
		if (r && (r->flags & REAL_F_AVAILABLE))
			return *rid;
	}
	return NO_REAL;
}

static __always_inline __be32 mask_v4(__be32 addr, __u8 prefix)
{
	if (prefix >= 32)
		return addr;
	if (prefix == 0)
		return 0;
	return addr & bpf_htonl(~0U << (32 - prefix));
}

/* schedule picks the real for a new connection: the client's persistence
 * template when it is live and its real still takes connections, else the
 * selection table (and a new template). */
static __always_inline __u32 schedule(struct service *svc, struct packet *p, __u32 now)
{
	struct persist_key pk;
	struct persist *t;
	__u32 rid;

	if (svc->persist_timeout) {
		__builtin_memset(&pk, 0, sizeof(pk));
		ADDR4(pk.client) = mask_v4(p->ip->saddr, svc->persist_prefix);
		pk.service_id = svc->id;
		t = bpf_map_lookup_elem(&persistence, &pk);
		if (t && now - t->last_seen <= svc->persist_timeout) {
			rid = t->real_id;
			struct real *r = bpf_map_lookup_elem(&reals, &rid);

			if (r && (r->flags & REAL_F_AVAILABLE) && r->service_id == svc->id) {
				t->last_seen = now;
				return rid;
			}
		}
	}
	rid = pick_from_table(svc, p);
	if (rid != NO_REAL && svc->persist_timeout) {
		struct persist nt = {.real_id = rid, .last_seen = now};

		bpf_map_update_elem(&persistence, &pk, &nt, BPF_ANY);
		sync_template(&pk, &nt);
	}
	return rid;
}

static __always_inline void real_count(__u32 real_id, __u32 what)
{
	struct real_counters *rs = bpf_map_lookup_elem(&real_stats, &real_id);

	if (!rs)
		return;
	if (what == CONN_ESTABLISHED)
		rs->conns_established++;
	else
		rs->conns_est_closed++;
}

/* track_tcp moves a connection's state on TCP flags, IPVS-style: the
 * client's ACK after its SYN establishes it; FIN or RST from either side
 * ends it. The compare-and-swap makes each change count exactly once. */
static __always_inline void track_tcp(
    struct conn *ct, struct flow_key *fk, struct tcphdr *tcp, int from_client)
{
	enum conn_state st = ct->state, next;

	if (tcp->rst)
		next = CONN_CLOSE;
	else if (tcp->fin)
		next = (st == CONN_SYN_RECV || st == CONN_ESTABLISHED) ? CONN_FIN_WAIT : st;
	else if (from_client && st == CONN_SYN_RECV && tcp->ack && !tcp->syn)
		next = CONN_ESTABLISHED;
	else
		return;
	if (next == st)
		return;
	if (__sync_val_compare_and_swap(&ct->state, st, next) != st)
		return;
	if (next == CONN_ESTABLISHED)
		real_count(ct->real_id, CONN_ESTABLISHED);
	else if (st == CONN_ESTABLISHED)
		real_count(ct->real_id, CONN_CLOSE);
	sync_conn(SYNC_CONN_STATE, fk, ct);
}

/* refresh keeps last_seen current to a second, writing at most once a
 * second; a persistent service's template is kept alive with it (replies
 * pass svc NULL: the client's own packets keep the template). */
static __always_inline void refresh(
    struct conn *ct, struct flow_key *fk, __u32 now, struct service *svc)
{
	if (now - ct->last_seen < REFRESH_INTERVAL)
		return;
	ct->last_seen = now;
	if (svc && svc->persist_timeout) {
		struct persist_key pk;
		struct persist *t;

		__builtin_memset(&pk, 0, sizeof(pk));
		ADDR4(pk.client) = mask_v4(ADDR4(fk->client), svc->persist_prefix);
		pk.service_id = ct->service_id;
		t = bpf_map_lookup_elem(&persistence, &pk);
		if (t && t->real_id == ct->real_id)
			t->last_seen = now;
	}
}

static __always_inline void count_bytes(__u32 service_id, __u32 real_id, __u32 len, int in)
{
	struct service_counters *ss = bpf_map_lookup_elem(&service_stats, &service_id);
	struct real_counters *rs = bpf_map_lookup_elem(&real_stats, &real_id);

	if (in) {
		if (ss) {
			ss->packets_in++;
			ss->bytes_in += len;
		}
		if (rs) {
			rs->packets_in++;
			rs->bytes_in += len;
		}
	} else {
		if (ss) {
			ss->packets_out++;
			ss->bytes_out += len;
		}
		if (rs) {
			rs->packets_out++;
			rs->bytes_out += len;
		}
	}
}

/* rewrite_v4 replaces one address and one port of the datagram (the
 * destination when dst is set, else the source) and patches the IPv4 and
 * TCP/UDP checksums incrementally. A UDP checksum of zero means "none"
 * and stays zero; a computed zero is sent as 0xffff. */
static __always_inline void rewrite_v4(struct packet *p, int dst, __be32 addr, __be16 port)
{
	struct iphdr *ip = p->ip;
	__be32 old_addr = dst ? ip->daddr : ip->saddr;
	__be16 old_port = dst ? p->dport : p->sport;
	__u32 sum;

	sum = csum_add_diff32(csum_start(ip->check), old_addr, addr);
	ip->check = csum_fold(sum);
	if (dst) {
		ip->daddr = addr;
		p->dport = port;
	} else {
		ip->saddr = addr;
		p->sport = port;
	}

	if (p->tcp) {
		sum = csum_add_diff32(csum_start(p->tcp->check), old_addr, addr);
		sum = csum_add_diff16(sum, old_port, port);
		p->tcp->check = csum_fold(sum);
		if (dst)
			p->tcp->dest = port;
		else
			p->tcp->source = port;
	} else if (p->udp) {
		if (p->udp->check) {
			__u16 c;

			sum = csum_add_diff32(csum_start(p->udp->check), old_addr, addr);
			sum = csum_add_diff16(sum, old_port, port);
			c = csum_fold(sum);
			p->udp->check = c ? c : 0xffff;
		}
		if (dst)
			p->udp->dest = port;
		else
			p->udp->source = port;
	}
}

/* send_v4 finds the next hop of the rewritten datagram and sends it: out
 * the same interface (XDP_TX) or another (redirect). What the kernel must
 * do itself (resolve a neighbour, deliver locally, fragment, forward a
 * tagged frame) gets the frame, already rewritten, with its TTL untouched
 * for the kernel to decrement. A datagram too big for the route that may
 * not be fragmented returns NEEDS_FRAG (p->mtu set, nothing counted): the
 * caller knows whom to tell. */
static __always_inline int send_v4(struct xdp_md *ctx, struct packet *p)
{
	struct bpf_fib_lookup fib;
	struct iphdr *ip = p->ip;
	long rc;

	if (p->tagged)
		return count(STAT_PASS_VLAN, XDP_PASS);

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;

	rc = bpf_fib_lookup(ctx, &fib, sizeof(fib), 0);
	switch (rc) {
	case BPF_FIB_LKUP_RET_SUCCESS:
		break;
	case BPF_FIB_LKUP_RET_BLACKHOLE:
	case BPF_FIB_LKUP_RET_UNREACHABLE:
	case BPF_FIB_LKUP_RET_PROHIBIT:
		return count(STAT_DROP_UNREACHABLE, XDP_DROP);
	case BPF_FIB_LKUP_RET_NO_NEIGH:
		return count(STAT_PASS_NO_NEIGH, XDP_PASS);
	case BPF_FIB_LKUP_RET_FRAG_NEEDED:
		/* Without DF the kernel fragments it; with DF the caller
		 * must see that the sender hears of it (path MTU discovery). */
		if (!(ip->frag_off & bpf_htons(IP_DF)))
			return count(STAT_PASS_FIB, XDP_PASS);
		p->mtu = fib.mtu_result;
		return NEEDS_FRAG;
	default:
		return count(STAT_PASS_FIB, XDP_PASS);
	}

	ip_ttl_dec(ip);
	__builtin_memcpy(p->eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(p->eth->h_source, fib.smac, ETH_ALEN);
	p->out_ifindex = fib.ifindex;
	if (fib.ifindex == ctx->ingress_ifindex)
		return count(STAT_FWD_TX, XDP_TX);
	return count(STAT_FWD_REDIRECT, bpf_redirect(fib.ifindex, 0));
}

/* send_cached is send_v4 with a cached next hop: nh, if not expired, is
 * the result of the last route lookup toward the same host and is used
 * without looking again, for datagrams no longer than one the route took
 * (longer ones are looked up: the route's MTU check); otherwise the route
 * is looked up and, if the frame is forwarded, nh is refreshed for a
 * second. Up to a second of a changed route or neighbour goes unseen. */
static __always_inline int send_cached(
    struct xdp_md *ctx, struct packet *p, struct nexthop *nh, __u32 now)
{
	__u16 len = bpf_ntohs(p->ip->tot_len);
	int ret;

	if (nh && nh->expires > now && len <= nh->max_len && !p->tagged) {
		ip_ttl_dec(p->ip);
		__builtin_memcpy(p->eth->h_dest, nh->dmac, ETH_ALEN);
		__builtin_memcpy(p->eth->h_source, nh->smac, ETH_ALEN);
		if (nh->ifindex == ctx->ingress_ifindex)
			return count(STAT_FWD_TX, XDP_TX);
		return count(STAT_FWD_REDIRECT, bpf_redirect(nh->ifindex, 0));
	}
	ret = send_v4(ctx, p);
	if (nh && (ret == XDP_TX || ret == XDP_REDIRECT)) {
		if (nh->expires <= now || nh->ifindex != p->out_ifindex)
			nh->max_len = 0;
		nh->ifindex = p->out_ifindex;
		__builtin_memcpy(nh->dmac, p->eth->h_dest, ETH_ALEN);
		__builtin_memcpy(nh->smac, p->eth->h_source, ETH_ALEN);
		nh->expires = now + 1;
		if (len > nh->max_len)
			nh->max_len = len;
	}
	return ret;
}

/* client_nexthop finds the cache slot of a client's next hop; a slot that
 * held another client is taken over (expired, so send_cached looks up). */
static __always_inline struct nexthop *client_nexthop(__be32 client)
{
	__u32 slot = hash32(0x85ebca6b, client) & (CLIENT_NEXTHOPS - 1);
	struct client_nexthop *c = bpf_map_lookup_elem(&client_nexthops, &slot);

	if (!c)
		return NULL;
	if (c->family != AF_INET || ADDR4(c->client) != client) {
		__builtin_memset(c, 0, sizeof(*c));
		ADDR4(c->client) = client;
		c->family = AF_INET;
	}
	return &c->nh;
}

/* reply_frag_needed turns the frame, an untagged IPv4 datagram as it was
 * received, into the ICMP "fragmentation needed" (next-hop MTU mtu) its
 * sender must get, from the address it was sent to, quoting its IPv4
 * header and first 8 bytes of payload (RFC 792), and sends it back the way
 * it came. The kernel would do the same for a datagram to a local
 * address; this is what IPVS does before its DNAT. */
static __noinline int reply_frag_needed(struct xdp_md *ctx, __u32 mtu)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct icmphdr *icmp;
	__u8 peer[ETH_ALEN], self[ETH_ALEN];
	__be32 from, to;
	__u32 quote, sum, i;
	int delta;

	if ((void *)(ip + 1) > data_end)
		return count(STAT_DROP_TRUNCATED, XDP_DROP);
	quote = ip->ihl * 4 + 8;
	__builtin_memcpy(peer, eth->h_source, ETH_ALEN);
	__builtin_memcpy(self, eth->h_dest, ETH_ALEN);
	from = ip->daddr;
	to = ip->saddr;

	/* Room for a new IPv4 and ICMP header in front of the quote, which
	 * then starts where the old Ethernet header ended; the rest goes. */
	if (bpf_xdp_adjust_head(ctx, -(int)(sizeof(*ip) + sizeof(*icmp))))
		return count(STAT_PASS_FIB, XDP_PASS);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	delta = (int)(sizeof(*eth) + sizeof(*ip) + sizeof(*icmp) + quote) - (int)(data_end - data);
	if (delta < 0 && bpf_xdp_adjust_tail(ctx, delta))
		return count(STAT_DROP_TRUNCATED, XDP_DROP);
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	ip = (void *)(eth + 1);
	icmp = (void *)(ip + 1);
	if ((void *)(icmp + 1) > data_end)
		return count(STAT_DROP_TRUNCATED, XDP_DROP);

	__builtin_memcpy(eth->h_dest, peer, ETH_ALEN);
	__builtin_memcpy(eth->h_source, self, ETH_ALEN);
	eth->h_proto = bpf_htons(ETH_P_IP);

	ip->version = 4;
	ip->ihl = 5;
	ip->tos = 0xc0; /* internetwork control, as the kernel's errors */
	ip->tot_len = bpf_htons(sizeof(*ip) + sizeof(*icmp) + quote);
	ip->id = 0;
	ip->frag_off = 0;
	ip->ttl = 64;
	ip->protocol = IPPROTO_ICMP;
	ip->check = 0;
	ip->saddr = from;
	ip->daddr = to;
	sum = 0;
#pragma unroll
	for (i = 0; i < sizeof(*ip) / 2; i++)
		sum += ((__u16 *)ip)[i];
	ip->check = csum_fold(sum);

	icmp->type = ICMP_DEST_UNREACH;
	icmp->code = ICMP_FRAG_NEEDED;
	icmp->checksum = 0;
	icmp->rest = bpf_htonl(mtu);
	sum = 0;
	for (i = 0; i < (sizeof(*icmp) + 60 + 8) / 2; i++) {
		__u16 *w = (__u16 *)icmp + i;

		if (i >= (sizeof(*icmp) + quote) / 2)
			break;
		barrier_var(w);
		if ((void *)(w + 1) > data_end)
			return count(STAT_DROP_TRUNCATED, XDP_DROP);
		sum += *w;
	}
	icmp->checksum = csum_fold(sum);
	return count(STAT_TX_FRAG_NEEDED, XDP_TX);
}

/* too_big_to_real: a client's datagram, already DNATed, is too big for
 * the route to its real and may not be fragmented. The client must hear
 * it from the VIP about the datagram it sent (to the VIP): put the
 * destination back and answer. Tagged frames never get here (send_v4
 * gives them to the kernel before looking up a route). */
static __always_inline int too_big_to_real(
    struct xdp_md *ctx, struct packet *p, __be32 vip, __be16 vport)
{
	rewrite_v4(p, 1, vip, vport);
	return reply_frag_needed(ctx, p->mtu);
}

/* no_frag: for a translated ICMP error too big for its route, which no
 * one is told about (errors about errors are not sent): the kernel's. */
static __always_inline int no_frag(int ret)
{
	if (ret == NEEDS_FRAG)
		return count(STAT_PASS_FIB, XDP_PASS);
	return ret;
}

/* forward_v4 handles a frame addressed to a virtual service. */
static __always_inline int forward_v4(struct xdp_md *ctx, struct packet *p, struct service *svc)
{
	struct flow_key fk;
	struct conn *ct, nc;
	__u32 now = now_sec();
	int syn = p->tcp && p->tcp->syn && !p->tcp->ack;
	__be32 vip = p->ip->daddr;
	__be16 vport = p->dport;
	int ret;

	if (p->ip->ttl <= 1)
		return count(STAT_DROP_TTL, XDP_DROP);
	if (!ipv4_csum_ok(p->ip, p->data_end, p->ip->ihl))
		return count(STAT_DROP_BAD_CSUM, XDP_DROP);

	__builtin_memset(&fk, 0, sizeof(fk));
	ADDR4(fk.client) = p->ip->saddr;
	ADDR4(fk.vip) = p->ip->daddr;
	fk.client_port = bpf_ntohs(p->sport);
	fk.vip_port = bpf_ntohs(p->dport);
	fk.proto = p->ip->protocol;
	fk.family = AF_INET;

	ct = bpf_map_lookup_elem(&conntrack, &fk);
	/* A new SYN on a finished connection's tuple is a new connection. */
	if (ct && syn && (ct->state == CONN_FIN_WAIT || ct->state == CONN_CLOSE))
		ct = NULL;

	if (ct) {
		struct real *cr = bpf_map_lookup_elem(&reals, &ct->real_id);

		if (!cr)
			return count(STAT_PASS_NO_REAL, XDP_PASS);
		if (p->tcp)
			track_tcp(ct, &fk, p->tcp, 1);
		refresh(ct, &fk, now, svc);
		count_bytes(ct->service_id, ct->real_id, p->len, 1);
		rewrite_v4(p, 1, ADDR4(cr->addr), bpf_htons(cr->port));
		ret = send_cached(ctx, p, bpf_map_lookup_elem(&real_nexthops, &ct->real_id), now);
		if (ret == NEEDS_FRAG)
			return too_big_to_real(ctx, p, vip, vport);
		return ret;
	}

	if (p->tcp && !syn && !(svc->flags & SERVICE_F_ANY_PACKET))
		return count(STAT_PASS_TCP_NO_CONN, XDP_PASS);

	__u32 rid = schedule(svc, p, now);
	struct real *r = bpf_map_lookup_elem(&reals, &rid);

	if (rid == NO_REAL || !r)
		return count(STAT_PASS_NO_REAL, XDP_PASS);

	__builtin_memset(&nc, 0, sizeof(nc));
	nc.service_id = svc->id;
	nc.real_id = rid;
	nc.last_seen = now;
	if (!p->tcp)
		nc.state = CONN_UDP;
	else if (syn)
		nc.state = CONN_SYN_RECV;
	else
		nc.state = CONN_ESTABLISHED;
	if (bpf_map_update_elem(&conntrack, &fk, &nc, BPF_ANY))
		return count(STAT_DROP_CONNTRACK, XDP_DROP);
	sync_conn(SYNC_CONN_NEW, &fk, &nc);

	struct service_counters *ss = bpf_map_lookup_elem(&service_stats, &svc->id);
	struct real_counters *rs = bpf_map_lookup_elem(&real_stats, &rid);

	if (ss)
		ss->conns++;
	if (rs) {
		rs->conns++;
		if (nc.state == CONN_ESTABLISHED)
			rs->conns_established++;
	}
	count_bytes(svc->id, rid, p->len, 1);
	rewrite_v4(p, 1, ADDR4(r->addr), bpf_htons(r->port));
	ret = send_v4(ctx, p);
	if (ret == NEEDS_FRAG)
		return too_big_to_real(ctx, p, vip, vport);
	return ret;
}

/* reply_conn finds the connection of a datagram from a real: fk holds
 * the client side; each VIP:port the real serves is tried (fk left naming
 * the one found). */
static __always_inline struct conn *reply_conn(struct real_vip_set *rv, struct flow_key *fk)
{
	__u32 i, n = rv->count;
	struct conn *ct;

	for (i = 0; i < MAX_VIPS_PER_REAL; i++) {
		if (i >= n)
			break;
		fk->vip = rv->vips[i].vip;
		fk->vip_port = rv->vips[i].port;
		ct = bpf_map_lookup_elem(&conntrack, fk);
		if (ct && ct->real_id == rv->vips[i].real_id)
			return ct;
	}
	return NULL;
}

/* reverse_v4 handles a frame from a real server's service port: if it
 * belongs to a tracked connection its source becomes the VIP again. It
 * returns CONTINUE for frames that are not replies of ours. */
static __always_inline int reverse_v4(struct xdp_md *ctx, struct packet *p, struct real_vip_set *rv)
{
	struct flow_key fk;
	struct conn *ct;
	__be32 real = p->ip->saddr;
	__be16 real_port = p->sport;
	int ret;

	__builtin_memset(&fk, 0, sizeof(fk));
	ADDR4(fk.client) = p->ip->daddr;
	fk.client_port = bpf_ntohs(p->dport);
	fk.proto = p->ip->protocol;
	fk.family = AF_INET;

	ct = reply_conn(rv, &fk);
	if (!ct)
		return CONTINUE;

	if (p->ip->ttl <= 1)
		return count(STAT_PASS_TTL, XDP_PASS);
	if (!ipv4_csum_ok(p->ip, p->data_end, p->ip->ihl))
		return count(STAT_DROP_BAD_CSUM, XDP_DROP);
	if (p->tcp)
		track_tcp(ct, &fk, p->tcp, 0);
	__u32 now = now_sec();

	refresh(ct, &fk, now, NULL);
	count_bytes(ct->service_id, ct->real_id, p->len, 0);
	rewrite_v4(p, 0, ADDR4(fk.vip), bpf_htons(fk.vip_port));
	ret = send_cached(ctx, p, client_nexthop(ADDR4(fk.client)), now);
	if (ret == NEEDS_FRAG) {
		/* Too big for the route to the client. Passed as it is, the
		 * kernel's "fragmentation needed" would go to its source, the
		 * VIP, a local address, and the real would never hear of it: a
		 * path MTU black hole. Un-NATed, the kernel tells the real. */
		rewrite_v4(p, 0, real, real_port);
		return count(STAT_PASS_FRAG_NEEDED, XDP_PASS);
	}
	return ret;
}

/* icmp_rewrite_inner translates the datagram an ICMP error quotes: its
 * source (src set) or destination address and port become addr:port. The
 * quoted IPv4 header checksum, the quoted TCP/UDP checksum when the quote
 * holds it, and the ICMP checksum are patched incrementally, so each stays
 * exactly as right or wrong as it came. */
static __always_inline void icmp_rewrite_inner(struct packet *p, int src, __be32 addr, __be16 port)
{
	struct iphdr *in = p->inner;
	__be16 *ports = p->inner_l4;
	__be32 old_addr = src ? in->saddr : in->daddr;
	__be16 old_port = src ? p->sport : p->dport;
	__u16 old_check = in->check, new_check;
	__u16 *l4check = NULL;
	__u32 sum = csum_start(p->icmp->checksum);

	new_check = csum_fold(csum_add_diff32(csum_start(old_check), old_addr, addr));
	in->check = new_check;
	if (src)
		in->saddr = addr;
	else
		in->daddr = addr;
	sum = csum_add_diff32(sum, old_addr, addr);
	sum = csum_add_diff16(sum, old_check, new_check);

	if ((void *)(ports + 2) > p->data_end)
		return; /* parse_icmp_error checked it; this tells the verifier */
	ports[src ? 0 : 1] = port;
	sum = csum_add_diff16(sum, old_port, port);

	/* The quoted L4 checksum: UDP's is in the 8 bytes every error quotes;
	 * TCP's only when the sender quoted more (RFC 1812 routers and Linux
	 * quote as much as fits in 576 bytes). */
	if (in->protocol == IPPROTO_UDP) {
		l4check = (void *)ports + 6;
	} else {
		__u32 quoted = (void *)ports + 18 - (void *)p->ip;

		if (quoted <= bpf_ntohs(p->ip->tot_len) &&
		    bpf_ntohs(in->tot_len) >= in->ihl * 4 + 18)
			l4check = (void *)ports + 16;
	}
	if (l4check && (void *)(l4check + 1) <= p->data_end &&
	    (*l4check || in->protocol != IPPROTO_UDP)) {
		__u16 old = *l4check, c;

		c = csum_fold(csum_add_diff16(
		    csum_add_diff32(csum_start(old), old_addr, addr), old_port, port));
		if (!c && in->protocol == IPPROTO_UDP)
			c = 0xffff;
		*l4check = c;
		sum = csum_add_diff16(sum, old, c);
	}
	p->icmp->checksum = csum_fold(sum);
}

/* set_outer_addr replaces the ICMP datagram's own destination (dst set)
 * or source. ICMP has no pseudo-header: only the IPv4 checksum changes. */
static __always_inline void set_outer_addr(struct packet *p, int dst, __be32 addr)
{
	struct iphdr *ip = p->ip;

	ip->check =
	    csum_fold(csum_add_diff32(csum_start(ip->check), dst ? ip->daddr : ip->saddr, addr));
	if (dst)
		ip->daddr = addr;
	else
		ip->saddr = addr;
}

/* icmp_v4 translates an ICMP error about a tracked connection, as IPVS
 * does, so that path MTU discovery and errors work through the NAT:
 *
 *   to the VIP, quoting a reply (VIP:vport -> client): a router between
 *     the LB and the client (fragmentation needed, TTL exceeded) or the
 *     client itself. The error goes to the connection's real, with the
 *     quote made what the real sent (real:port -> client).
 *   from the farm to a client, quoting what the client sent (client ->
 *     real:port): the real or a farm router. The error goes to the client
 *     from the VIP, the quote made what the client sent (client ->
 *     VIP:vport); farm addresses do not leak.
 *
 * An error is always sent back to the quoted datagram's source; anything
 * else, or an error about no tracked connection, is the kernel's. */
static __noinline int icmp_v4(struct xdp_md *ctx, struct packet *p)
{
	struct iphdr *in = p->inner;
	struct service_key sk;
	struct real_key rk;
	struct flow_key fk;
	struct real_vip_set *rv;
	struct conn *ct;

	__be16 *ports = p->inner_l4;

	if ((void *)(ports + 2) > p->data_end)
		return count(STAT_PASS_ICMP, XDP_PASS); /* parse_icmp_error checked */
	p->sport = ports[0];
	p->dport = ports[1];
	if (p->ip->daddr != in->saddr)
		return count(STAT_PASS_ICMP, XDP_PASS);

	__builtin_memset(&fk, 0, sizeof(fk));
	fk.proto = in->protocol;
	fk.family = AF_INET;

	__builtin_memset(&sk, 0, sizeof(sk));
	ADDR4(sk.vip) = in->saddr;
	sk.port = bpf_ntohs(p->sport);
	sk.proto = in->protocol;
	sk.family = AF_INET;
	if (bpf_map_lookup_elem(&services, &sk)) {
		struct real *r;

		ADDR4(fk.client) = in->daddr;
		fk.client_port = bpf_ntohs(p->dport);
		ADDR4(fk.vip) = in->saddr;
		fk.vip_port = bpf_ntohs(p->sport);
		ct = bpf_map_lookup_elem(&conntrack, &fk);
		if (!ct)
			return count(STAT_PASS_ICMP, XDP_PASS);
		r = bpf_map_lookup_elem(&reals, &ct->real_id);
		if (!r)
			return count(STAT_PASS_ICMP, XDP_PASS);
		if (p->ip->ttl <= 1)
			return count(STAT_DROP_TTL, XDP_DROP);
		if (!ipv4_csum_ok(p->ip, p->data_end, p->ip->ihl))
			return count(STAT_DROP_BAD_CSUM, XDP_DROP);
		icmp_rewrite_inner(p, 1, ADDR4(r->addr), bpf_htons(r->port));
		set_outer_addr(p, 1, ADDR4(r->addr));
		count(STAT_ICMP_TRANSLATED, 0);
		return no_frag(send_cached(
		    ctx, p, bpf_map_lookup_elem(&real_nexthops, &ct->real_id), now_sec()));
	}

	__builtin_memset(&rk, 0, sizeof(rk));
	ADDR4(rk.addr) = in->daddr;
	rk.port = bpf_ntohs(p->dport);
	rk.proto = in->protocol;
	rk.family = AF_INET;
	rv = bpf_map_lookup_elem(&real_vips, &rk);
	if (!rv)
		return count(STAT_PASS_ICMP, XDP_PASS);
	ADDR4(fk.client) = in->saddr;
	fk.client_port = bpf_ntohs(p->sport);
	ct = reply_conn(rv, &fk);
	if (!ct)
		return count(STAT_PASS_ICMP, XDP_PASS);
	if (p->ip->ttl <= 1)
		return count(STAT_PASS_TTL, XDP_PASS);
	if (!ipv4_csum_ok(p->ip, p->data_end, p->ip->ihl))
		return count(STAT_DROP_BAD_CSUM, XDP_DROP);
	icmp_rewrite_inner(p, 0, ADDR4(fk.vip), bpf_htons(fk.vip_port));
	set_outer_addr(p, 0, ADDR4(fk.vip));
	count(STAT_ICMP_TRANSLATED, 0);
	return no_frag(send_cached(ctx, p, client_nexthop(ADDR4(fk.client)), now_sec()));
}
