package runner

import "time"

// jobLinger is how long a job's goroutine waits for another job before it
// ends: a few turn intervals of a busy node, where turns of different
// stories come every few milliseconds.
const jobLinger = 100 * time.Millisecond

// workers run the stories' jobs. A job goes to a goroutine that waits
// for one, if any does, else to a new goroutine; after a job the
// goroutine waits up to jobLinger for the next. A busy node then neither
// starts a goroutine per turn nor grows a fresh stack each time (a turn's
// job, storing and fanning out, runs deeper than a new goroutine's
// stack: the profile of workload A showed the growth, the goroutine's
// start and its exit at about 5% of the node's CPU). An idle node has
// none.
type workers struct {
	jobs chan func() // unbuffered: a send succeeds only if a goroutine waits
}

func (w *workers) init() { w.jobs = make(chan func()) }

// run has job run on a waiting goroutine or a new one.
func (w *workers) run(job func()) {
	select {
	case w.jobs <- job:
	default:
		go w.work(job)
	}
}

func (w *workers) work(job func()) {
	job()
	idle := time.NewTimer(jobLinger)
	defer idle.Stop()
	for {
		select {
		case job = <-w.jobs:
			job()
			idle.Reset(jobLinger)
		case <-idle.C:
			return
		}
	}
}
