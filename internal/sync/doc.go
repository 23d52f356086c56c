// Package sync keeps the flow tables of two (or more) directors in step,
// so that established connections and persistence survive a failover.
//
// Whoever is master (the daemon follows VRRP with SetMaster) sends; the
// others receive and install what it sends in their own dataplane, which
// maps reals to its own ids by address and does its own FIB lookups, so
// nothing of the sender's interfaces or MACs is ever used. Roles flip
// both ways.
//
// # Using it
//
// The daemon opens the dataplane with loader.Options{SyncEvents: true}
// and then:
//
//	s, err := sync.New(cfg, dp, logger) // binds the socket (in the current netns)
//	go s.Run(ctx)
//	s.SetMaster(true / false)           // on every VRRP transition; starts as backup
//	dp.Touch()                          // when becoming master: full timeouts for learnt flows
//	res, _ := dp.GC(timeouts)           // master; a backup runs GC with Hold: true
//	s.Expired(res.ExpiredFlows)         // master: the GC's deletions go to the backup
//	s.ExpiredTemplates(res.DroppedTemplates) // and the templates it expired
//	ok, changed := s.Convergence()      // backup: hold back preemption until ok
//	s.Status()                          // counters for the API and metrics
//
// # What is sent
//
// The master reads the dataplane's changes (loader.SyncReader: every new
// connection, TCP state change and new persistence template) and the
// deletions its GC makes (Expired, ExpiredTemplates), queues them and
// sends them in
// batches. The queue is bounded and coalescing: a newer change of a
// connection replaces the queued one; when it is full it is emptied and
// a bulk transfer replaces it (likewise when the dataplane reports lost
// events). A backup installs connections with the master's idle ages
// (relative times: the directors' monotonic clocks differ) and holds
// them (loader.Timeouts.Hold) until it learns of their end; the daemon
// calls Touch when it becomes master.
//
// # Bulk transfers and convergence
//
// A backup that starts, restarts, changes role, sees a new master
// session, loses a message (a sequence gap) or hears nothing for 3.5
// heartbeats asks the master, unicast, for a bulk transfer. The master
// takes a snapshot of its whole table (templates first, then
// connections), sends a start marker, streams the snapshot in batches
// and ends with an end marker carrying the number of entries sent.
// Changes keep flowing meanwhile; an entry that changed after the
// snapshot is skipped by the transfer because the change (sent after
// the start marker) is newer. The transfer is paced by a token bucket:
// max_rate entries/s over everything sent, changes first. A transfer
// that the backup lost part of (it asks again, naming the transfer) is
// restarted at half the rate the lost one achieved (at least 1000
// entries/s); other requests during a transfer get one more after it.
// The master takes at most one snapshot per second.
//
// A backup is converged once a transfer of the current master session
// arrived whole: start, every message up to the end without a gap, and
// the entry count right. It then deletes the connections the transfer
// did not mention (the master no longer has them). The daemon holds back
// VRRP preemption until then (Convergence). Templates are not swept: a
// backup deletes those the master's GC expired (kind 4) and keeps the
// rest it learnt until it becomes master and its own GC expires them.
//
// # Transport
//
// UDP, to every peer (unicast) or to a multicast group joined on the
// sync interface (default 224.0.0.81, as IPVS's sync daemon; TTL 1, no
// loopback), port 8848 by default, the same on every director. Resync
// requests go unicast to the address the master's messages came from,
// or to every peer before any was heard. A datagram is at most
// MaxMessage (1400) bytes, which fits an Ethernet MTU under IPv6.
//
// # Wire format (version 1)
//
// All integers are big-endian. A message is a 32-byte header, entries,
// and, when a key is configured, an HMAC-SHA256 over header and entries:
//
//	offset size field
//	     0    1 magic 0x58 ('X')
//	     1    1 version (1)
//	     2    1 type: 1 update (changes; none: heartbeat), 2 bulk start,
//	              3 bulk (entries of a transfer), 4 bulk end, 5 resync request
//	     3    1 flags: bit 0 HMAC follows; bit 1 (bulk start) reset: the
//	              master dropped changes, receivers' tables are stale
//	     4    2 length of header and entries (without the HMAC)
//	     6    2 number of entries (update and bulk only)
//	     8    8 epoch: the master's session, random per SetMaster(true);
//	              on a resync request the backup's random instance id
//	    16    8 sequence number within the epoch, from 1
//	    24    4 transfer id (bulk messages); on a request, the transfer
//	              the backup was receiving (0: none)
//	    28    4 bulk end: entries the transfer sent
//	    32    … entries
//	     L   32 HMAC-SHA256(key, bytes 0..L-1), if flag bit 0
//
// Every entry starts with kind, its length, address family (4 or 6) and
// IP protocol (6 or 17); addresses are 4 or 16 bytes as the family says
// and each is followed by a 2-byte port where one is shown:
//
//	kind 1 connection (28 bytes IPv4, 64 IPv6)
//	  0 kind, 1 length, 2 family, 3 proto, 4 state (1 SYN_RECV,
//	  2 ESTABLISHED, 3 FIN_WAIT, 4 CLOSE, 5 UDP), 5 zero, 6 idle seconds (4),
//	  10 client addr:port, VIP addr:port, real addr:port
//	kind 2 persistence template (26 bytes IPv4, 62 IPv6)
//	  0 kind, 1 length, 2 family, 3 proto, 4 zero (2), 6 idle seconds (4),
//	  10 VIP addr:port, masked client addr, real addr:port
//	kind 3 connection deleted (16 bytes IPv4, 40 IPv6)
//	  0 kind, 1 length, 2 family, 3 proto, 4 client addr:port, VIP addr:port
//	kind 4 persistence template deleted (14 bytes IPv4, 38 IPv6)
//	  0 kind, 1 length, 2 family, 3 proto, 4 VIP addr:port, masked client addr
//
// # Rejected messages
//
// A receiver drops, and counts by reason (Status.Rejected): datagrams
// that are oversized, truncated, not of this protocol or whose entries
// do not parse (bad format); another version (wrong version); without a
// valid HMAC when a key is configured, or with one when none is (bad
// MAC); a sequence number already accepted or more than 64 behind the
// newest (replay); a master session that a newer one replaced (old
// epoch, the last 16 are remembered). The MAC is checked before anything
// else in the message is believed. Without a key nothing is
// authenticated: anyone who can reach the port can write the backup's
// flow table.
package sync
