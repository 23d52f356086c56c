package sync

import (
	"errors"
	"net/netip"
	"sync/atomic"
)

// Status is a Syncer's state and counters.
type Status struct {
	Master    bool `json:"master"`
	Converged bool `json:"converged"`
	// Epoch is this director's session while master.
	Epoch uint64 `json:"epoch,omitempty"`
	// Peer and PeerEpoch are the master a backup follows.
	Peer      netip.AddrPort `json:"peer,omitzero"`
	PeerEpoch uint64         `json:"peer_epoch,omitempty"`
	// Queued are changes waiting to be sent.
	Queued int `json:"queued"`

	SentMessages     uint64 `json:"sent_messages"`
	SentEntries      uint64 `json:"sent_entries"`
	SendErrors       uint64 `json:"send_errors"`
	ReceivedMessages uint64 `json:"received_messages"` // accepted ones
	ReceivedEntries  uint64 `json:"received_entries"`
	InstalledEntries uint64 `json:"installed_entries"` // connections, templates and deletions applied
	InstallErrors    uint64 `json:"install_errors"`    // e.g. a real this director does not have
	SweptEntries     uint64 `json:"swept_entries"`     // connections a bulk transfer showed the master no longer has

	// BulkSent counts complete bulk transfers sent, BulkAborted those
	// restarted on a resync request, BulkReceived those received whole.
	BulkSent     uint64 `json:"bulk_sent"`
	BulkAborted  uint64 `json:"bulk_aborted"`
	BulkReceived uint64 `json:"bulk_received"`
	// ResyncRequestsSent/Received count bulk transfer requests.
	ResyncRequestsSent     uint64 `json:"resync_requests_sent"`
	ResyncRequestsReceived uint64 `json:"resync_requests_received"`
	// Gaps counts sequence gaps seen (lost messages).
	Gaps uint64 `json:"gaps"`
	// Events are dataplane changes read; EventsLost are changes the
	// dataplane could not report (its ring was full); Overflows are
	// times the send queue filled. Both end in a bulk transfer.
	Events      uint64 `json:"events"`
	EventErrors uint64 `json:"event_errors"`
	EventsLost  uint64 `json:"events_lost"`
	Overflows   uint64 `json:"overflows"`
	// Ignored are valid messages for the other role (e.g. two masters).
	Ignored uint64 `json:"ignored"`

	Rejected Rejected `json:"rejected"`
}

// Rejected counts dropped messages by reason.
type Rejected struct {
	BadMAC       uint64 `json:"bad_mac"`
	Replay       uint64 `json:"replay"`
	OldEpoch     uint64 `json:"old_epoch"`
	BadFormat    uint64 `json:"bad_format"`
	WrongVersion uint64 `json:"wrong_version"`
}

// Total is the number of rejected messages.
func (r Rejected) Total() uint64 {
	return r.BadMAC + r.Replay + r.OldEpoch + r.BadFormat + r.WrongVersion
}

type counters struct {
	sentMsgs, sentEntries, sendErrors                    atomic.Uint64
	recvMsgs, recvEntries, installed, installErrs, swept atomic.Uint64
	bulkSent, bulkAborted, bulkReceived                  atomic.Uint64
	requestsSent, requestsReceived, gaps                 atomic.Uint64
	events, eventErrors, eventsLost, overflows, ignored  atomic.Uint64
	unencodable                                          atomic.Uint64
	badMAC, replay, oldEpoch, badFormat, wrongVersion    atomic.Uint64
}

// reject counts a rejected message by the reason err wraps.
func (c *counters) reject(err error) {
	switch {
	case errors.Is(err, ErrBadMAC):
		c.badMAC.Add(1)
	case errors.Is(err, ErrReplay):
		c.replay.Add(1)
	case errors.Is(err, ErrOldEpoch):
		c.oldEpoch.Add(1)
	case errors.Is(err, ErrWrongVersion):
		c.wrongVersion.Add(1)
	default:
		c.badFormat.Add(1)
	}
}

// Status returns the current state and counters.
func (s *Syncer) Status() Status {
	s.mu.Lock()
	st := Status{
		Master:    s.master,
		Converged: s.converged,
		Epoch:     s.epoch,
		Peer:      s.peer,
		PeerEpoch: s.peerEpoch,
		Queued:    s.q.len(),
	}
	s.mu.Unlock()
	c := &s.c
	st.SentMessages = c.sentMsgs.Load()
	st.SentEntries = c.sentEntries.Load()
	st.SendErrors = c.sendErrors.Load()
	st.ReceivedMessages = c.recvMsgs.Load()
	st.ReceivedEntries = c.recvEntries.Load()
	st.InstalledEntries = c.installed.Load()
	st.InstallErrors = c.installErrs.Load()
	st.SweptEntries = c.swept.Load()
	st.BulkSent = c.bulkSent.Load()
	st.BulkAborted = c.bulkAborted.Load()
	st.BulkReceived = c.bulkReceived.Load()
	st.ResyncRequestsSent = c.requestsSent.Load()
	st.ResyncRequestsReceived = c.requestsReceived.Load()
	st.Gaps = c.gaps.Load()
	st.Events = c.events.Load()
	st.EventErrors = c.eventErrors.Load() + c.unencodable.Load()
	st.EventsLost = c.eventsLost.Load()
	st.Overflows = c.overflows.Load()
	st.Ignored = c.ignored.Load()
	st.Rejected = Rejected{
		BadMAC:       c.badMAC.Load(),
		Replay:       c.replay.Load(),
		OldEpoch:     c.oldEpoch.Load(),
		BadFormat:    c.badFormat.Load(),
		WrongVersion: c.wrongVersion.Load(),
	}
	return st
}
