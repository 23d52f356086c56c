package sync

import (
	"math"
	"time"
)

// bucket is a token bucket counting entries: rate per second, holding at
// most burst. A zero rate is unlimited. Not safe for concurrent use.
type bucket struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int, now time.Time) *bucket {
	b := &bucket{}
	b.set(rate, burst, now)
	return b
}

// set changes the rate and burst; the bucket starts full.
func (b *bucket) set(rate float64, burst int, now time.Time) {
	b.rate, b.burst, b.tokens, b.last = rate, float64(burst), float64(burst), now
}

func (b *bucket) unlimited() bool { return b.rate <= 0 }

func (b *bucket) refill(now time.Time) {
	if b.unlimited() {
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens = math.Min(b.burst, b.tokens+d.Seconds()*b.rate)
	}
	b.last = now
}

// available is how many whole entries may go now.
func (b *bucket) available(now time.Time) int {
	if b.unlimited() {
		return math.MaxInt32
	}
	b.refill(now)
	return int(b.tokens)
}

// take spends n tokens.
func (b *bucket) take(n int) {
	if !b.unlimited() {
		b.tokens -= float64(n)
	}
}

// wait is how long until n entries may go.
func (b *bucket) wait(n int, now time.Time) time.Duration {
	if b.unlimited() {
		return 0
	}
	b.refill(now)
	need := math.Min(float64(n), b.burst) - b.tokens
	if need <= 0 {
		return 0
	}
	return time.Duration(need / b.rate * float64(time.Second))
}
