package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/postern/postern/internal/store"
)

// target is one resolved recipient: the account and mailbox a copy goes to
// and the Delivered-To value it carries.
type target struct {
	account     store.AccountID
	mailbox     store.MailboxID
	deliveredTo string
	flags       []string
	ignoreQuota bool
}

// envelope is one message to deliver.
type envelope struct {
	sender string
	// withReturnPath false leaves the Return-Path header out (local
	// delivery with no known sender).
	withReturnPath bool
	// received is a Received trace field (with its CRLF) placed after the
	// per-recipient headers; "" for none.
	received string
	targets  []target
}

// header is the block prepended to the copy for one recipient.
func (env *envelope) header(deliveredTo string) []byte {
	return append(traceHeader(env.sender, env.withReturnPath, deliveredTo), env.received...)
}

// bodyError marks an error that came from reading the message body (client
// gone, too large, bad input) rather than from the store.
type bodyError struct{ err error }

func (e *bodyError) Error() string { return "reading message: " + e.err.Error() }
func (e *bodyError) Unwrap() error { return e.err }

// countingReader counts octets read and remembers the first read error
// other than EOF, so a failed Stage can be blamed on the body or the store.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && err != io.EOF && c.err == nil {
		c.err = err
	}
	return n, err
}

// maxParallelStage bounds concurrent Stage calls of one multi-recipient
// delivery (each hashes, writes and fsyncs its own blob).
const maxParallelStage = 4

// deliverEnvelope stores body once per distinct target and appends every
// copy in one Store.Append call (the store groups it with concurrent
// deliveries into shared commits). maxBody bounds the body as read from r.
//
// It returns one error per target, in order (nil: durable in the mailbox),
// with the results of Append, or a single error that applies to all
// targets when the body could not be read (wrapped in *bodyError) or
// spooled.
//
// Each copy carries its own Delivered-To, so copies for different
// recipients are different blobs. With one distinct target the body is
// streamed straight into Stage; with several it is first spooled to an
// unlinked temporary file, read back for each Stage.
func deliverEnvelope(ctx context.Context, st store.Store, env envelope, body io.Reader, maxBody int64, spoolDir string) ([]store.AppendResult, []error, error) {
	// Distinct copies: the same mailbox and Delivered-To twice (a repeated
	// RCPT) is stored once; both recipients get its outcome.
	type copyKey struct {
		mailbox     store.MailboxID
		account     store.AccountID
		deliveredTo string
	}
	index := make(map[copyKey]int)
	var copies []target
	copyOf := make([]int, len(env.targets))
	for i, t := range env.targets {
		k := copyKey{t.mailbox, t.account, t.deliveredTo}
		j, ok := index[k]
		if !ok {
			j = len(copies)
			index[k] = j
			copies = append(copies, t)
		}
		copyOf[i] = j
	}

	staged := make([]*store.Staged, len(copies))
	stageErr := make([]error, len(copies))
	body = io.LimitReader(body, maxBody+1)
	if len(copies) == 1 {
		prefix := env.header(copies[0].deliveredTo)
		cr := &countingReader{r: body}
		staged[0], stageErr[0] = st.Stage(ctx, io.MultiReader(bytes.NewReader(prefix), cr), stageLimit(prefix, maxBody))
		if cr.err != nil {
			return nil, nil, &bodyError{cr.err}
		}
		if cr.n > maxBody {
			return nil, nil, &bodyError{store.ErrTooLarge}
		}
		if stageErr[0] != nil && errors.Is(stageErr[0], store.ErrTooLarge) {
			return nil, nil, &bodyError{stageErr[0]}
		}
	} else {
		spool, size, err := spoolBody(body, maxBody, spoolDir)
		if err != nil {
			return nil, nil, err
		}
		defer spool.Close()
		var wg sync.WaitGroup
		sem := make(chan struct{}, maxParallelStage)
		for j, t := range copies {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				prefix := env.header(t.deliveredTo)
				r := io.MultiReader(bytes.NewReader(prefix), io.NewSectionReader(spool, 0, size))
				staged[j], stageErr[j] = st.Stage(ctx, r, stageLimit(prefix, maxBody))
			}()
		}
		wg.Wait()
	}

	// One Append for every copy that staged.
	var reqs []store.AppendRequest
	reqOf := make([]int, len(copies))
	for j, t := range copies {
		reqOf[j] = -1
		if stageErr[j] != nil {
			continue
		}
		reqOf[j] = len(reqs)
		reqs = append(reqs, store.AppendRequest{
			Account:     t.account,
			Mailbox:     t.mailbox,
			Message:     staged[j],
			Flags:       t.flags,
			IgnoreQuota: t.ignoreQuota,
		})
	}
	var results []store.AppendResult
	var appendErr error
	if len(reqs) > 0 {
		results, appendErr = st.Append(ctx, reqs)
		if appendErr == nil && len(results) != len(reqs) {
			appendErr = fmt.Errorf("store returned %d results for %d requests", len(results), len(reqs))
		}
	}

	out := make([]store.AppendResult, len(env.targets))
	errs := make([]error, len(env.targets))
	for i := range env.targets {
		j := copyOf[i]
		switch {
		case stageErr[j] != nil:
			errs[i] = stageErr[j]
		case appendErr != nil:
			errs[i] = appendErr
		default:
			out[i] = results[reqOf[j]]
			errs[i] = results[reqOf[j]].Err
		}
	}
	return out, errs, nil
}

// stageLimit is the maxSize given to Store.Stage. The store counts octets
// after turning bare LF into CRLF, which can double a body, while the
// client-facing limit (maxBody, checked here on the raw stream) counts
// them as sent; so the store's bound is the worst case of an accepted body.
func stageLimit(prefix []byte, maxBody int64) int64 {
	return int64(len(prefix)) + 2*maxBody
}

// spoolBody copies body to an unlinked temporary file (nothing is left on
// disk whatever happens to the process) and returns it with its size.
// A body over maxBody octets fails with a *bodyError wrapping
// store.ErrTooLarge.
func spoolBody(body io.Reader, maxBody int64, dir string) (*os.File, int64, error) {
	f, err := os.CreateTemp(dir, "postern-lmtp-*")
	if err != nil {
		return nil, 0, fmt.Errorf("spool: %w", err)
	}
	// Unlink at once: the open descriptor keeps the data until Close.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("spool: %w", err)
	}
	cr := &countingReader{r: body}
	n, err := io.Copy(f, cr)
	if cr.err != nil {
		f.Close()
		return nil, 0, &bodyError{cr.err}
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("spool: %w", err)
	}
	if n > maxBody {
		f.Close()
		return nil, 0, &bodyError{store.ErrTooLarge}
	}
	return f, n, nil
}
