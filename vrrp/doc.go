// Package vrrp implements VRRP version 2 (RFC 3768) and version 3
// (RFC 5798, IPv4 and IPv6), interoperable with keepalived, so that xlbd
// replaces keepalived's vrrp_instance / vrrp_sync_group one box at a time.
//
// The package has three layers:
//
//   - packet.go: the advertisement codec (Packet, Decode, Marshal) and the
//     receive rules of RFC 3768 §7.1 / RFC 5798 §7.1 (Check). Every rule
//     that drops a packet has a DropReason, which the node counts.
//   - machine.go: the state machine of all instances and sync groups. It
//     does no I/O and reads no clock: Handle(Event, now) returns Actions,
//     NextDeadline says when to send the next EventTimer. Tests drive it
//     with a fake clock.
//   - node.go with conn_linux.go, garp_linux.go and host_linux.go: a Node
//     owns one raw IP protocol 112 socket per interface and family (joined
//     to 224.0.0.18 / ff02::12, TTL 255), installs virtual addresses with
//     netlink, sends gratuitous ARPs / unsolicited neighbour advertisements,
//     follows link state, and reports Status for the control API.
//
// The daemon builds a Config from its own configuration, calls New and
// runs Node.Run in its errgroup; OnState and OnGroupState tell it about
// transitions (notify scripts, e-mail and the dataplane's VIP ownership
// are the daemon's business), and SetTrackScript feeds it track_script
// results:
//
//	node, err := vrrp.New(vrrp.Config{
//		Instances:  instances,
//		SyncGroups: groups,
//		OnState:    func(in string, from, to vrrp.State) { events <- ... },
//	}, logger)
//	g.Go(func() error { return node.Run(ctx) })
//
// Behaviour follows keepalived 2.2.7 where the RFCs leave room:
//
//   - `state MASTER` does not make a non-owner master at once; it shortens
//     the first wait to one advertisement interval.
//   - A sync group becomes master only when every member wants to (it
//     prefers BACKUP to thrashing); one member leaving MASTER or entering
//     FAULT takes the others along.
//   - A master entering FAULT (tracked interface or weight-0 track script
//     down, or its own interface down) advertises priority 0 first.
//   - A master hearing a lower priority advertises at once; a master
//     hearing priority 0 advertises at once.
//   - Advertisements whose address list differs from ours are dropped
//     (counted as addr_list), as keepalived 2.2.7 does.
//   - The TTL of unicast advertisements is not checked (peers may be
//     routed); their source must be a configured peer instead.
//   - An owner (priority 255) ignores track weights and never removes its
//     interface's own address.
//
// Not implemented: IPsec AH authentication (obsolete), VMAC interfaces
// (use_vmac), VRRPv3 accept mode enforcement (xlb's dataplane decides
// what it accepts; InstanceStatus.Accept reports the setting).
package vrrp
