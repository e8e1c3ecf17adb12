package sqlite

import (
	"context"
	"strings"
	"testing"
)

// TestQueryPlans checks that the hot read and flag-update statements use
// the intended indexes rather than scanning the messages table.
func TestQueryPlans(t *testing.T) {
	db := openTest(t, "")
	ctx := context.Background()
	cases := []struct {
		query string
		args  []any
		want  string
	}{
		{refsQuery, []any{1, 1}, "COVERING INDEX messages_refs"},
		{`UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ?
			WHERE account_id = ? AND mailbox_id = ? AND uid IN (SELECT value FROM json_each(?))`,
			[]any{"", 0, 0, 1, 1, 1, "[1,2]"}, "mailbox_id=? AND uid=?)"},
		{`UPDATE messages SET flags = ?, seen = ?, deleted = ?, modseq = ?
			WHERE account_id = ? AND mailbox_id = ? AND uid BETWEEN ? AND ?`,
			[]any{"", 0, 0, 1, 1, 1, 1, 9}, "INDEX messages_uid (account_id=? AND mailbox_id=? AND uid>? AND uid<?)"},
		// FETCH ENVELOPE: the metadata row by its primary key, per message.
		{`SELECT uid, envelope FROM messages m LEFT JOIN message_meta mm ON mm.id = m.id
			WHERE m.account_id = ? AND m.mailbox_id = ? AND uid BETWEEN ? AND ? ORDER BY uid`,
			[]any{1, 1, 1, 9}, "SEARCH mm USING INTEGER PRIMARY KEY (rowid=?)"},
	}
	for _, c := range cases {
		rows, err := db.rdb.QueryContext(ctx, "EXPLAIN QUERY PLAN "+c.query, c.args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan strings.Builder
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan.WriteString(detail + "\n")
		}
		rows.Close()
		if !strings.Contains(plan.String(), c.want) {
			t.Errorf("plan of %q lacks %q:\n%s", c.query, c.want, plan.String())
		}
	}
}
