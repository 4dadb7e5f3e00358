package server

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzDecodeClientMsg: any frame is refused with bad_request or decodes
// to a message within the protocol's bounds; never a panic. `go test
// -fuzz FuzzDecodeClientMsg ./server/` explores; plain `go test` runs the
// seeds and testdata/fuzz.
func FuzzDecodeClientMsg(f *testing.F) {
	for _, s := range []string{
		`{"type":"ping","id":"1"}`,
		`{"type":"subscribe","id":"2","sim":"s1","since":3}`,
		`{"type":"act","id":"3","sim":"s1","character":"wren","action":{"kind":"say","target":"ona","text":"hi"}}`,
		`{"type":"claim","sim":"s1","character":"wren"}`,
		`{"type":"unsubscribe","sim":""}`,
		`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
		`{"type":"ping","id":"\u0000"}`,
		`{"type":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, id, e := decodeClientMsg(data)
		if e != nil {
			if e.Code != CodeBadRequest {
				t.Fatalf("refused with %s, want bad_request", e.Code)
			}
			if len(id) > maxIDLen {
				t.Fatalf("a refusal names an id of %d bytes", len(id))
			}
			return
		}
		if len(m.ID) > maxIDLen || hasControl(m.ID) || !utf8.ValidString(m.ID) {
			t.Fatalf("accepted id %q", m.ID)
		}
		switch m.Type {
		case "subscribe", "unsubscribe", "claim", "release", "act":
			if m.Sim == "" || len(m.Sim) > maxIDLen {
				t.Fatalf("accepted %s with sim %q", m.Type, m.Sim)
			}
		}
	})
}

// FuzzVerifyToken: no string is accepted as a token unless it is one the
// server signed, and what is accepted is a user within the protocol's
// bounds; never a panic.
func FuzzVerifyToken(f *testing.F) {
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	a, err := NewAuth([]byte("0123456789abcdef"), nil, "novel-engine", "novel-engine", now)
	if err != nil {
		f.Fatal(err)
	}
	good, _, err := a.Issue(User{ID: "u1", Name: "Ada", Role: RolePlayer}, time.Hour)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsInJvbGUiOiJhZG1pbiJ9.")
	f.Add("")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		u, err := a.Verify(tok)
		if err != nil {
			if e, ok := err.(*Error); !ok || e.Code != CodeUnauthorized {
				t.Fatalf("refused with %v, want unauthorized", err)
			}
			return
		}
		if tok != good && u.ID != "u1" {
			t.Fatalf("accepted a token the server did not sign: %q as %+v", tok, u)
		}
		switch u.Role {
		case RoleViewer, RolePlayer, RoleAdmin:
		default:
			t.Fatalf("accepted role %q", u.Role)
		}
		if u.ID == "" || len(u.ID) > maxIDLen || hasControl(u.Name) || utf8.RuneCountInString(u.Name) > maxNameLen {
			t.Fatalf("accepted user %+v", u)
		}
	})
}
