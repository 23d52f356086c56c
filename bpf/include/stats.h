/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* stats.h: per-CPU counter helpers. */
#pragma once

#include "xlb_maps.h"

/* count bumps the frame counter for reason and returns verdict, so that
 * every exit of the program reads `return count(STAT_X, XDP_Y);`. */
static __always_inline int count(enum stat_id reason, int verdict)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &reason);

	if (c)
		*c += 1;
	return verdict;
}
