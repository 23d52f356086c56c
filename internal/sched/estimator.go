package sched

// Estimator turns the number of new connections a service received in
// each tick into Options.ExpectedNew for the next lc/wlc plan. Because a
// plan's prefix does not depend on its length, it errs high: it returns
// twice the larger of the last tick's count and a moving average (weight
// 1/4), so a rising rate does not make the cursor wrap. The zero value is
// ready to use; an Estimator is not safe for concurrent use.
type Estimator struct {
	avg float64
}

// Next records observed, the new connections of the tick that just ended,
// and returns the plan length to request for the next tick.
func (e *Estimator) Next(observed int) int {
	o := float64(max(observed, 0))
	e.avg += (o - e.avg) / 4
	return int(2*max(o, e.avg)) + 1
}
