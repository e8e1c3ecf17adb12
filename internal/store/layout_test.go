package store

import (
	"testing"
	"unsafe"
)

// TestSubscriptionWakeFields keeps what push and Drain use at the start
// of Subscription, within its first cache line and a bit (a delivery to
// 10,000 idling sessions touches each subscription once, cold).
func TestSubscriptionWakeFields(t *testing.T) {
	var s Subscription
	for name, end := range map[string]uintptr{
		"mu":         unsafe.Offsetof(s.mu) + unsafe.Sizeof(s.mu),
		"wake":       unsafe.Offsetof(s.wake) + unsafe.Sizeof(s.wake),
		"events":     unsafe.Offsetof(s.events) + unsafe.Sizeof(s.events),
		"overflowed": unsafe.Offsetof(s.overflowed) + unsafe.Sizeof(s.overflowed),
		"drained":    unsafe.Offsetof(s.drained) + unsafe.Sizeof(s.drained),
	} {
		if end > 72 {
			t.Errorf("Subscription.%s ends at octet %d, past 72", name, end)
		}
	}
}
