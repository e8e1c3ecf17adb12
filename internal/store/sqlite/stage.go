package sqlite

import (
	"context"
	"errors"
	"io"

	"github.com/postern/postern/internal/blob"
	"github.com/postern/postern/internal/message"
	"github.com/postern/postern/internal/store"
)

// Stage writes a message to blob storage and parses it, reading the body
// once: the CRLF-normalized stream is teed into blob.Write and, through a
// pipe, into the parser running in a second goroutine. It runs in the
// caller's goroutine (not the writer's), so slow clients and big messages
// never hold up other commits. The blob is not fsynced here: Append makes
// it durable, in parallel with the other blobs of its group commit and
// before the commit (see writeBlobs). A staged message never appended is an
// orphan blob for Check. Safe for concurrent use.
//
// maxSize <= 0 means Options.MaxMessageSize.
func (db *DB) Stage(ctx context.Context, r io.Reader, maxSize int64) (*store.Staged, error) {
	if maxSize <= 0 {
		maxSize = db.opts.MaxMessageSize
	}
	pr, pw := io.Pipe()
	type parsed struct {
		p   *message.Parsed
		err error
	}
	done := make(chan parsed, 1)
	go func() {
		p, err := parseMessage(pr)
		io.Copy(io.Discard, pr) // the parser may stop early; never block the tee
		done <- parsed{p, err}
	}()
	id, size, err := db.blobs.Write(ctx, io.TeeReader(message.NewCRLFReader(r), pw), maxSize)
	if err != nil {
		pw.CloseWithError(err)
	} else {
		pw.Close()
	}
	res := <-done
	switch {
	case errors.Is(err, blob.ErrTooLarge):
		return nil, store.ErrTooLarge
	case err != nil:
		return nil, err
	case res.err != nil:
		return nil, res.err
	}
	p := res.p
	if p == nil {
		p = &message.Parsed{}
	}
	p.Size = size
	return &store.Staged{BlobID: id, Size: size, Parsed: p}, nil
}
