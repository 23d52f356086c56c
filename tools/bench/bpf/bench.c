// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* bench.c: the benchmark's own XDP programs, none of them part of xlb.
 *
 *   bench_gen      live-frame generator: template -> frame, next flow, XDP_TX
 *   bench_harness  micro-benchmark wrapper: template -> frame, tail call
 *   bench_floor    the floor: bpf_fib_lookup + TTL + MACs + redirect, nothing else
 *   bench_sink     a real server's receive side in the rate test: count, drop
 *   bench_pass     XDP_PASS (veth takes XDP frames only with a program attached)
 *   bench_nop      XDP_DROP, the harness's empty target (its own cost)
 *
 * Frames are FRAME_LEN bytes: Ethernet, a 20-byte IPv4 header, TCP or UDP,
 * padding. The template's source address and port are the flow pattern's
 * base; checksums are patched incrementally, so a template with correct
 * checksums gives frames with correct checksums.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FRAME_LEN 60
#define AF_INET 2
#define OFF_IP 14
#define OFF_IP_CSUM (OFF_IP + 10)
#define OFF_SADDR (OFF_IP + 12)
#define OFF_L4 (OFF_IP + 20)
#define OFF_TCP_CSUM (OFF_L4 + 16)
#define OFF_UDP_CSUM (OFF_L4 + 6)

/* How frame number n is made from the template: flow = n % flows; the
 * source port is port_base + flow % ports, the source address the
 * template's plus flow / ports. */
struct frame_cfg {
	__u8 frame[FRAME_LEN];
	__u32 flows; /* 0 or 1: every frame is the template */
	__u32 ports;
	__u16 port_base;
	__u8 proto; /* IPPROTO_TCP or IPPROTO_UDP: which checksum to patch */
	__u8 pad;
};

/* Written by tools/bench (or loader/bench_test.go) before a run. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct frame_cfg);
} frame_cfgs SEC(".maps");

/* Frames made so far: the flow sequence. Shared by CPUs (a test run can
 * move between them) and not atomic: one thread generates at a time. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} frame_seq SEC(".maps");

/* The program bench_harness hands each frame to. */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* Frames bench_sink received. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sink_pkts SEC(".maps");

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* csum_replace patches a stored checksum for a 32-bit field changing
 * from old to new (RFC 1624), all in network order. */
static __always_inline __u16 csum_replace(__u16 check, __u32 old, __u32 new)
{
	__u32 sum = (__u16)~check;

	sum += (~old & 0xffff) + (~old >> 16);
	sum += (new & 0xffff) + (new >> 16);
	return csum_fold(sum);
}

/* make_frame overwrites the frame with the template and applies the
 * next flow of the pattern. It returns 0, or -1 if the frame is short. */
static __always_inline int make_frame(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct frame_cfg *cfg;
	__u32 zero = 0, flow, saddr, nsaddr, oport, nport;
	__u64 *seq;

	if (data + FRAME_LEN > data_end)
		return -1;
	cfg = bpf_map_lookup_elem(&frame_cfgs, &zero);
	seq = bpf_map_lookup_elem(&frame_seq, &zero);
	if (!cfg || !seq)
		return -1;
	__builtin_memcpy(data, cfg->frame, FRAME_LEN);
	if (cfg->flows <= 1 || cfg->ports == 0)
		return 0;

	flow = (*seq)++ % cfg->flows;
	__builtin_memcpy(&saddr, data + OFF_SADDR, 4);
	nsaddr = bpf_htonl(bpf_ntohl(saddr) + flow / cfg->ports);
	oport = *(__u16 *)(data + OFF_L4);
	nport = bpf_htons(cfg->port_base + flow % cfg->ports);

	__builtin_memcpy(data + OFF_SADDR, &nsaddr, 4);
	*(__u16 *)(data + OFF_L4) = nport;
	*(__u16 *)(data + OFF_IP_CSUM) =
	    csum_replace(*(__u16 *)(data + OFF_IP_CSUM), saddr, nsaddr);
	if (cfg->proto == IPPROTO_TCP) {
		__u16 c = *(__u16 *)(data + OFF_TCP_CSUM);

		c = csum_replace(c, saddr, nsaddr);
		*(__u16 *)(data + OFF_TCP_CSUM) = csum_replace(c, oport, nport);
	} else if (*(__u16 *)(data + OFF_UDP_CSUM)) {
		__u16 c = *(__u16 *)(data + OFF_UDP_CSUM);

		c = csum_replace(c, saddr, nsaddr);
		c = csum_replace(c, oport, nport);
		*(__u16 *)(data + OFF_UDP_CSUM) = c ? c : 0xffff;
	}
	return 0;
}

/* bench_gen runs under BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: each
 * frame leaves through the ingress interface (the generator's veth). The
 * kernel recycles pages holding what the receiver wrote, hence the full
 * rewrite from the template every time. */
SEC("xdp")
int bench_gen(struct xdp_md *ctx)
{
	if (make_frame(ctx))
		return XDP_DROP;
	return XDP_TX;
}

/* bench_harness makes BPF_PROG_TEST_RUN's Repeat meaningful: the kernel
 * runs the program again and again on the same buffer, which the program
 * under test rewrote; the harness restores the frame (and can vary the
 * flow) before each run, then tail-calls the program under test. */
SEC("xdp")
int bench_harness(struct xdp_md *ctx)
{
	if (make_frame(ctx))
		return XDP_ABORTED;
	bpf_tail_call(ctx, &targets, 0);
	return XDP_ABORTED;
}

/* bench_floor forwards an IPv4 frame the way a router must at least:
 * route lookup with neighbour, TTL decrement, MAC rewrite, redirect. It
 * is the least any XDP forwarder can cost. */
SEC("xdp")
int bench_floor(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);
	struct bpf_fib_lookup fib;
	__u32 check;

	if ((void *)(ip + 1) > data_end)
		return XDP_DROP;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ttl <= 1)
		return XDP_PASS;

	__builtin_memset(&fib, 0, sizeof(fib));
	fib.family = AF_INET;
	fib.tos = ip->tos;
	fib.l4_protocol = ip->protocol;
	fib.tot_len = bpf_ntohs(ip->tot_len);
	fib.ipv4_src = ip->saddr;
	fib.ipv4_dst = ip->daddr;
	fib.ifindex = ctx->ingress_ifindex;
	if (bpf_fib_lookup(ctx, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS)
		return XDP_PASS;

	check = ip->check;
	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl--;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	if (fib.ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(fib.ifindex, 0);
}

SEC("xdp")
int bench_sink(struct xdp_md *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&sink_pkts, &zero);

	if (n)
		*n += 1;
	return XDP_DROP;
}

SEC("xdp")
int bench_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int bench_nop(struct xdp_md *ctx)
{
	return XDP_DROP;
}
