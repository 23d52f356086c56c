/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* parse.h: bounds-checked Ethernet (+ one VLAN tag), IPv4, TCP and UDP
 * parsing. Every malformed case ends in a counted verdict: see
 * docs/dataplane.md for the table. */
#pragma once

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "stats.h"
#include "xlb_consts.h"

#define CONTINUE -1
#define NEEDS_FRAG -2 /* send_v4: too big for the route, DF set */

/* The ICMP header (linux/icmp.h drags in libc's socket headers). */
struct icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* id/sequence, next-hop MTU, pointer: left alone */
};

#define ICMP_DEST_UNREACH 3
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12
#define ICMP_FRAG_NEEDED 4 /* code of ICMP_DEST_UNREACH */

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

/* A parsed IPv4 frame: TCP or UDP (tcp or udp set), or an ICMP error
 * quoting a TCP or UDP datagram (icmp, inner and inner_l4 set; icmp_v4
 * sets sport and dport to the quoted datagram's). */
struct packet {
	struct ethhdr *eth;
	struct iphdr *ip;
	struct tcphdr *tcp;
	struct udphdr *udp;
	struct icmphdr *icmp;
	struct iphdr *inner; /* the datagram an ICMP error quotes */
	void *inner_l4;      /* its TCP/UDP header: at least the ports and 4 bytes more */
	void *data_end;
	__be16 sport;
	__be16 dport;
	__u32 len;         /* frame length, for byte counters */
	__u32 out_ifindex; /* where send_v4 sent it */
	__u16 mtu;         /* the route's MTU, when send_v4 says NEEDS_FRAG */
	__u8 tagged;       /* carried an 802.1Q/802.1ad tag */
};

/* parse_eth finds the network header. It returns CONTINUE with *l3_off
 * and *proto set, or a verdict. */
static __always_inline int parse_eth(
    void *data, void *data_end, struct packet *p, __u32 *l3_off, __be16 *proto)
{
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end)
		return count(STAT_DROP_TRUNCATED, XDP_DROP);
	p->eth = eth;
	*proto = eth->h_proto;
	*l3_off = sizeof(*eth);
	if (*proto == bpf_htons(ETH_P_8021Q) || *proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vh = (void *)(eth + 1);

		if ((void *)(vh + 1) > data_end)
			return count(STAT_DROP_TRUNCATED, XDP_DROP);
		*proto = vh->proto;
		*l3_off += sizeof(*vh);
		p->tagged = 1;
	}
	return CONTINUE;
}

/* parse_icmp_error finds the datagram an ICMP error (destination
 * unreachable, fragmentation needed, time exceeded, parameter problem)
 * quotes: its IPv4 header and the first 8 bytes of its TCP or UDP header,
 * inside the ICMP datagram. Anything else ICMP is the kernel's (echo to a
 * VIP, errors about other traffic); so is an error that quotes too little
 * to name a connection: the kernel drops what it cannot parse. */
static __always_inline int parse_icmp_error(
    struct iphdr *ip, __u32 hlen, __u32 tot, void *data_end, struct packet *p)
{
	struct icmphdr *icmp = (void *)ip + hlen;
	struct iphdr *in;
	void *l4;

	if ((void *)(icmp + 1) > data_end)
		return count(STAT_PASS_ICMP, XDP_PASS);
	if (icmp->type != ICMP_DEST_UNREACH && icmp->type != ICMP_TIME_EXCEEDED &&
	    icmp->type != ICMP_PARAMETERPROB)
		return count(STAT_PASS_NOT_SERVICE, XDP_PASS);
	in = (void *)(icmp + 1);
	if ((void *)(in + 1) > data_end)
		return count(STAT_PASS_ICMP, XDP_PASS);
	if (in->version != 4 || in->ihl < 5 || (in->frag_off & bpf_htons(IP_OFFSET)))
		return count(STAT_PASS_ICMP, XDP_PASS);
	if (in->protocol != IPPROTO_TCP && in->protocol != IPPROTO_UDP)
		return count(STAT_PASS_ICMP, XDP_PASS);
	l4 = (void *)in + in->ihl * 4;
	if (l4 + 8 > data_end || (__u32)(l4 + 8 - (void *)ip) > tot)
		return count(STAT_PASS_ICMP, XDP_PASS);
	p->ip = ip;
	p->icmp = icmp;
	p->inner = in;
	p->inner_l4 = l4;
	return CONTINUE;
}

/* parse_ipv4 checks the IPv4 header and finds the TCP or UDP header. The
 * frame may be longer than the datagram (Ethernet padding) but not
 * shorter. IP options are allowed and kept. */
static __always_inline int parse_ipv4(void *data, void *data_end, struct packet *p, __u32 l3_off)
{
	struct iphdr *ip = data + l3_off;
	__u32 hlen, tot;

	if ((void *)(ip + 1) > data_end)
		return count(STAT_DROP_TRUNCATED, XDP_DROP);
	if (ip->version != 4 || ip->ihl < 5)
		return count(STAT_DROP_BAD_IP, XDP_DROP);
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	if (tot < hlen || tot > p->len - l3_off)
		return count(STAT_DROP_BAD_LENGTH, XDP_DROP);
	p->ip = ip;
	if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
		return count(STAT_PASS_FRAGMENT, XDP_PASS);

	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *tcp = (void *)ip + hlen;

		/* Opaque to clang: it must not merge this branch's header reads
		 * with UDP's into one that recomputes ip + hlen, a pointer the
		 * verifier has not seen checked. */
		barrier_var(tcp);
		if ((void *)(tcp + 1) > data_end)
			return count(STAT_DROP_TRUNCATED, XDP_DROP);
		if (tcp->doff < 5 || tcp->doff * 4 > tot - hlen)
			return count(STAT_DROP_BAD_L4, XDP_DROP);
		p->tcp = tcp;
		p->sport = tcp->source;
		p->dport = tcp->dest;
		return CONTINUE;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *udp = (void *)ip + hlen;
		__u32 ulen;

		barrier_var(udp);
		if ((void *)(udp + 1) > data_end)
			return count(STAT_DROP_TRUNCATED, XDP_DROP);
		ulen = bpf_ntohs(udp->len);
		if (ulen < sizeof(*udp) || ulen > tot - hlen)
			return count(STAT_DROP_BAD_L4, XDP_DROP);
		p->udp = udp;
		p->sport = udp->source;
		p->dport = udp->dest;
		return CONTINUE;
	}
	if (ip->protocol == IPPROTO_ICMP)
		return parse_icmp_error(ip, hlen, tot, data_end, p);
	return count(STAT_PASS_NOT_SERVICE, XDP_PASS);
}
