// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* xlb.c: the XDP entry point. One hot path, top to bottom:
 *
 *   frame -> eth [+vlan] -> IPv4 -> TCP/UDP
 *     dst is a service (VIP, port, proto)  -> forward_v4: DNAT to a real
 *     src is a real with a tracked conn    -> reverse_v4: SNAT back to VIP
 *   frame -> eth [+vlan] -> IPv4 -> ICMP error quoting TCP/UDP
 *     about a tracked conn                 -> icmp_v4: translated as IPVS does
 *     anything else                        -> XDP_PASS to the kernel
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "nat.h"
#include "parse.h"
#include "stats.h"
#include "xlb_maps.h"
#include "xlb_types.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("xdp")
int xlb_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct packet p;
	struct service_key sk;
	struct real_key rk;
	struct service *svc;
	struct real_vip_set *rv;
	__u32 l3_off;
	__be16 proto;
	int ret;

	__builtin_memset(&p, 0, sizeof(p));
	p.len = data_end - data;
	p.data_end = data_end;

	ret = parse_eth(data, data_end, &p, &l3_off, &proto);
	if (ret != CONTINUE)
		return ret;
	if (proto == bpf_htons(ETH_P_IPV6))
		return count(STAT_PASS_IPV6, XDP_PASS);
	if (proto != bpf_htons(ETH_P_IP))
		return count(STAT_PASS_NOT_IP, XDP_PASS);
	ret = parse_ipv4(data, data_end, &p, l3_off);
	if (ret != CONTINUE)
		return ret;
	if (p.icmp)
		return icmp_v4(ctx, &p);

	__builtin_memset(&sk, 0, sizeof(sk));
	ADDR4(sk.vip) = p.ip->daddr;
	sk.port = bpf_ntohs(p.dport);
	sk.proto = p.ip->protocol;
	sk.family = AF_INET;
	svc = bpf_map_lookup_elem(&services, &sk);
	if (svc)
		return forward_v4(ctx, &p, svc);

	__builtin_memset(&rk, 0, sizeof(rk));
	ADDR4(rk.addr) = p.ip->saddr;
	rk.port = bpf_ntohs(p.sport);
	rk.proto = p.ip->protocol;
	rk.family = AF_INET;
	rv = bpf_map_lookup_elem(&real_vips, &rk);
	if (rv) {
		ret = reverse_v4(ctx, &p, rv);
		if (ret != CONTINUE)
			return ret;
	}
	return count(STAT_PASS_NOT_SERVICE, XDP_PASS);
}
