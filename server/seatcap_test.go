package server

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/novel-engine/novel-engine/store"
)

// wsCall sends one message with id "r" and returns the reply to it.
func wsCall(t *testing.T, c *websocket.Conn, msg string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if json.Unmarshal(data, &m) == nil && m["id"] == "r" {
			return m
		}
	}
}

// TestSeatCapAndCreatorRelease: one player holds at most MaxSeatsPerUser
// seats of a story (refused with quota_exceeded), and the story's creator
// frees a seat someone else holds, as an admin may; another player may not.
func TestSeatCapAndCreatorRelease(t *testing.T) {
	s, hs := newTestServer(t, store.NewMemory(), Config{MaxSeatsPerUser: 1})
	creator, hog, other := guestToken(t, hs.URL, ""), guestToken(t, hs.URL, ""), guestToken(t, hs.URL, "")
	code, _, out := createStory(t, hs.URL, creator, "")
	if code != 201 {
		t.Fatalf("create: %d %v", code, out)
	}
	sim := out["id"].(string)
	chars := out["characters"].([]any)
	char := func(i int) string { return chars[i].(map[string]any)["id"].(string) }
	claim := func(c *websocket.Conn, i int) map[string]any {
		return wsCall(t, c, fmt.Sprintf(`{"type":"claim","id":"r","sim":%q,"character":%q}`, sim, char(i)))
	}
	release := func(c *websocket.Conn, i int) map[string]any {
		return wsCall(t, c, fmt.Sprintf(`{"type":"release","id":"r","sim":%q,"character":%q}`, sim, char(i)))
	}
	h, _ := dial(t, hs.URL, hog, "")
	if m := claim(h, 0); m["type"] != "claimed" {
		t.Fatalf("first seat: %v", m)
	}
	if m := claim(h, 0); m["type"] != "claimed" {
		t.Fatalf("the seat held, again: %v", m)
	}
	if m := claim(h, 1); m["type"] != "error" || m["code"] != CodeQuotaExceeded {
		t.Fatalf("a second seat past the cap: %v", m)
	}
	o, _ := dial(t, hs.URL, other, "")
	if m := release(o, 0); m["type"] != "error" || m["code"] != CodeForbidden {
		t.Fatalf("another player frees the seat: %v", m)
	}
	c, _ := dial(t, hs.URL, creator, "")
	if m := release(c, 0); m["type"] != "released" {
		t.Fatalf("the creator frees the seat: %v", m)
	}
	if m := claim(o, 0); m["type"] != "claimed" {
		t.Fatalf("the freed seat: %v", m)
	}
	admin, _, _ := s.auth.Issue(User{ID: "root", Name: "Root", Role: RoleAdmin}, time.Hour)
	a, _ := dial(t, hs.URL, admin, "")
	if m := release(a, 0); m["type"] != "released" {
		t.Fatalf("an admin frees the seat: %v", m)
	}
	// An admin has no cap.
	for i := range 2 {
		if m := claim(a, i); m["type"] != "claimed" {
			t.Fatalf("an admin's seat %d: %v", i, m)
		}
	}
}
