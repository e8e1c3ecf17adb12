package imapserver

import "time"

// progress sends INPROGRESS updates (RFC 9585) during a long command:
// "* OK [INPROGRESS ("tag" done total)] ..." at most once per
// Options.ProgressInterval, flushed at once so that a client (and any
// proxy with an idle timer) sees the command is alive. Only the session's
// goroutine uses it.
type progress struct {
	s     *session
	tag   string
	total int
	done  int
	last  time.Time
}

// newProgress starts the clock for a command over total items.
func (s *session) newProgress(tag string, total int) *progress {
	return &progress{s: s, tag: tag, total: total, last: time.Now()}
}

// step counts one item and reports when the interval has passed.
func (p *progress) step() {
	p.done++
	opts := &p.s.srv.opts
	if !opts.progressAlways {
		if opts.ProgressInterval < 0 || p.done%64 != 0 {
			return // look at the clock only now and then
		}
		now := time.Now()
		if now.Sub(p.last) < opts.ProgressInterval {
			return
		}
		p.last = now
	}
	e := &p.s.enc
	e.Atom("* OK [INPROGRESS (").String(p.tag).SP().Number64(uint64(p.done)).SP().Number64(uint64(p.total)).Atom(")] Working").CRLF()
	e.Flush()
}
