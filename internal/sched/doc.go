// Package sched turns a virtual service's reals (weights, health, drain,
// connection counts) into the selection table the XDP dataplane reads.
//
// The dataplane picks a real for a new connection from the table in one of
// two ways, fixed per algorithm (see [Mode]):
//
//   - cursor mode (rr, wrr, lc, wlc): a per-service atomic counter; the
//     connection takes Entries[cursor++ % len]. The cursor restarts at 0
//     whenever a new table is installed, so every table is a complete plan
//     read from its first entry.
//   - hash mode (sh, mh): the connection takes Entries[hash(client) % len].
//
// The algorithms follow IPVS, so keepalived/LVS users get what they expect:
// rr and wrr rotate, lc and wlc prefer the real with the least
// active*256+inactive connections (per unit of weight for wlc), sh maps
// source addresses onto a weighted bucket table and mh is Maglev hashing.
// Where xlb differs from IPVS it says so on the algorithm (see [Build]).
//
// Everything here is pure Go with no I/O. A [Builder] keeps scratch memory
// between builds, so rebuilding lc/wlc tables every tick for many services
// allocates nothing in steady state.
package sched
