/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* csum.h: incremental Internet checksum updates (RFC 1624). All values are
 * taken as stored in the packet; one's complement sums don't care about
 * byte order as long as every operand has the same. */
#pragma once

#include <linux/types.h>
#include <bpf/bpf_helpers.h>

static __always_inline __u16 csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* csum_add_diff32 adds (new - old) for a 32-bit field to an unfolded
 * partial sum. */
static __always_inline __u32 csum_add_diff32(__u32 sum, __u32 old, __u32 new)
{
	sum += (~old & 0xffff) + (~old >> 16);
	sum += (new & 0xffff) + (new >> 16);
	return sum;
}

static __always_inline __u32 csum_add_diff16(__u32 sum, __u16 old, __u16 new)
{
	sum += (__u16)~old;
	sum += new;
	return sum;
}

/* csum_start unfolds a stored checksum into a partial sum. */
static __always_inline __u32 csum_start(__u16 check)
{
	return (__u16)~check;
}

/* ipv4_csum_ok verifies the header checksum, options included: a frame
 * the dataplane forwards must be one the kernel would have accepted. */
static __always_inline int ipv4_csum_ok(void *ip, void *data_end, __u32 ihl)
{
	__u16 *w = ip;
	__u32 sum = 0, i;

	if ((void *)(w + 10) > data_end)
		return 0;
#pragma unroll
	for (i = 0; i < 10; i++)
		sum += w[i];
	for (i = 10; i < 30; i++) {
		__u16 *q = w + i;

		if (i >= ihl * 2)
			break;
		/* Keep clang from turning the bounds check into arithmetic
		 * on data_end, which the verifier refuses. */
		barrier_var(q);
		if ((void *)(q + 1) > data_end)
			return 0;
		sum += *q;
	}
	return csum_fold(sum) == 0;
}

/* ip_ttl_dec decrements the TTL and patches the header checksum as the
 * kernel's ip_decrease_ttl does. */
#define ip_ttl_dec(iph) \
	do { \
		__u32 __c = (iph)->check; \
		__c += bpf_htons(0x0100); \
		(iph)->check = (__u16)(__c + (__c >= 0xFFFF)); \
		(iph)->ttl--; \
	} while (0)
