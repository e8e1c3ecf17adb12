package delivery

import (
	"errors"
	"fmt"

	"github.com/emersion/go-smtp"

	"github.com/postern/postern/internal/store"
)

// Replies with their enhanced status codes (RFC 3463). Texts never carry
// internal detail; the log has it.
var (
	replyUnknownUser = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such user here"}
	// LMTP: the MTA routed a domain here that is not ours (X.1.2 "bad
	// destination system address").
	replyForeignDomain = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 2}, Message: "Domain not served here"}
	// SMTP: anything not for a local account is a relay attempt (X.7.1
	// "delivery not authorized").
	replyRelayDenied = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Relaying denied"}
	replyOverQuota   = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 2, 2}, Message: "Mailbox full"}
	replyTooLarge    = &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too big"}
	replyTemporary   = &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Temporary failure, try again later"}
	replyLineTooLong = &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "Line too long"}
	replyShutdown    = &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Service shutting down, try again later"}
	replyBadAddress  = &smtp.SMTPError{Code: 553, EnhancedCode: smtp.EnhancedCode{5, 1, 3}, Message: "Bad recipient address syntax"}
)

// replySaved is the per-recipient success reply; go-smtp writes an
// *SMTPError with a 2xx code as given.
func replySaved(uid store.UID) *smtp.SMTPError {
	return &smtp.SMTPError{Code: 250, EnhancedCode: smtp.EnhancedCode{2, 0, 0}, Message: fmt.Sprintf("Saved as UID %d", uid)}
}

// replyFor maps a delivery error to the reply the client gets. smtpMode
// selects the SMTP listener's relay wording for recipients that are not
// local. Unknown errors are temporary: the client keeps the message and
// retries, so a store hiccup never bounces mail.
func replyFor(err error, smtpMode bool) *smtp.SMTPError {
	var se *smtp.SMTPError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &se):
		// go-smtp's own (ErrDataTooLarge) or one of ours.
		return se
	case errors.Is(err, errForeignDomain):
		if smtpMode {
			return replyRelayDenied
		}
		return replyForeignDomain
	case errors.Is(err, ErrUnknownUser), errors.Is(err, store.ErrNoAccount):
		return replyUnknownUser
	case errors.Is(err, store.ErrOverQuota):
		return replyOverQuota
	case errors.Is(err, store.ErrTooLarge):
		return replyTooLarge
	case errors.Is(err, smtp.ErrTooLongLine):
		return replyLineTooLong
	default:
		return replyTemporary
	}
}
