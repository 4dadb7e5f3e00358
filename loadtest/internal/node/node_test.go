package node

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestTurnSeqAt(t *testing.T) {
	msg := []byte(`{"type":"turn","sim":"s1","seq":42,"turn":{"sim":"s1","at":"2026-07-12T10:00:00.123456789Z","seq":42,"prose":"x"}}`)
	seq, at, ok := TurnSeqAt(msg)
	if !ok || seq != 42 || !at.Equal(time.Date(2026, 7, 12, 10, 0, 0, 123456789, time.UTC)) {
		t.Fatalf("TurnSeqAt = %d %v %v", seq, at, ok)
	}
	// The benchmark's own payload (what Centrifugo relays) has the same keys.
	seq, _, ok = TurnSeqAt([]byte(`{"push":{"channel":"c3","pub":{"data":{"seq":7,"at":"2026-07-12T10:00:00Z","pad":"xx"}}}}`))
	if !ok || seq != 7 {
		t.Fatalf("TurnSeqAt(push) = %d %v", seq, ok)
	}
	for _, bad := range []string{
		`{"type":"turn"}`,
		`{"seq":x,"at":"2026-07-12T10:00:00Z"}`,
		`{"seq":1}`,
		`{"seq":1,"at":"yesterday"}`,
		`{"seq":1,"at":"2026-07-12T10:00:00Z`,
	} {
		if _, _, ok := TurnSeqAt([]byte(bad)); ok {
			t.Errorf("TurnSeqAt(%s) parsed", bad)
		}
	}
}

func TestCreateWaitsOutTheRateLimit(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if calls.Add(1) <= 2 {
			http.Error(w, `{"error":"slow down"}`, http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"id":"s9","status":"running"}`))
	}))
	defer srv.Close()
	id, err := Create(srv.URL, "tok", []byte(`{"id":"x"}`), 1, time.Second)
	if err != nil || id != "s9" {
		t.Fatalf("Create = %q, %v", id, err)
	}
	if calls.Load() != 3 {
		t.Fatalf("%d calls, want 3", calls.Load())
	}
	if _, err := Create(srv.URL, "wrong", []byte(`{}`), 1, time.Second); err == nil {
		t.Fatal("a refused create returned no error")
	}
}
