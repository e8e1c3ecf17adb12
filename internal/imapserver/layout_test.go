package imapserver

import (
	"testing"
	"unsafe"
)

// TestWakeFieldsTogether keeps the fields a delivery's wake-up of a
// parked session touches within the first two cache lines of session and
// view (see the comments on those types): a field added among them, or
// one of them moved down, would cost every woken session another cache
// miss, which no functional test notices.
func TestWakeFieldsTogether(t *testing.T) {
	const limit = 128
	var s session
	var v view
	for name, end := range map[string]uintptr{
		"session.srv":        unsafe.Offsetof(s.srv) + unsafe.Sizeof(s.srv),
		"session.woken":      unsafe.Offsetof(s.woken) + unsafe.Sizeof(s.woken),
		"session.updating":   unsafe.Offsetof(s.updating) + unsafe.Sizeof(s.updating),
		"session.parkMu":     unsafe.Offsetof(s.parkMu) + unsafe.Sizeof(s.parkMu),
		"session.parked":     unsafe.Offsetof(s.parked) + unsafe.Sizeof(s.parked),
		"session.enabled":    unsafe.Offsetof(s.enabled) + unsafe.Sizeof(s.enabled),
		"session.sub":        unsafe.Offsetof(s.sub) + unsafe.Sizeof(s.sub),
		"session.sel":        unsafe.Offsetof(s.sel) + unsafe.Sizeof(s.sel),
		"session.notify":     unsafe.Offsetof(s.notify) + unsafe.Sizeof(s.notify),
		"session.direct":     unsafe.Offsetof(s.direct) + unsafe.Sizeof(s.direct),
		"session.parkFD":     unsafe.Offsetof(s.parkFD) + unsafe.Sizeof(s.parkFD),
		"session.bw":         unsafe.Offsetof(s.bw) + unsafe.Sizeof(s.bw),
		"session.enc":        unsafe.Offsetof(s.enc) + unsafe.Sizeof(s.enc),
		"session.account.ID": unsafe.Offsetof(s.account) + unsafe.Offsetof(s.account.ID) + unsafe.Sizeof(s.account.ID),
		"view.uids":          unsafe.Offsetof(v.uids) + unsafe.Sizeof(v.uids),
		"view.flags":         unsafe.Offsetof(v.flags) + unsafe.Sizeof(v.flags),
		"view.modseqs":       unsafe.Offsetof(v.modseqs) + unsafe.Sizeof(v.modseqs),
		"view.syncModSeq":    unsafe.Offsetof(v.syncModSeq) + unsafe.Sizeof(v.syncModSeq),
		"view.expunged":      unsafe.Offsetof(v.expunged) + unsafe.Sizeof(v.expunged),
		"view.recent":        unsafe.Offsetof(v.recent) + unsafe.Sizeof(v.recent),
		"view.readOnly":      unsafe.Offsetof(v.readOnly) + unsafe.Sizeof(v.readOnly),
		"view.mbox.ID":       unsafe.Offsetof(v.mbox) + unsafe.Offsetof(v.mbox.ID) + unsafe.Sizeof(v.mbox.ID),
	} {
		if end > limit {
			t.Errorf("%s ends at octet %d of its struct, past the first %d", name, end, limit)
		}
	}
}
