package engine

import (
	"encoding/json"
	"testing"
)

// FuzzParseScenario: any bytes (JSON or YAML) are refused with an error
// or give a scenario that encodes and parses again, and that a story can
// start from; never a panic. `go test -fuzz FuzzParseScenario ./engine/`
// explores; plain `go test` runs the seeds and testdata/fuzz.
func FuzzParseScenario(f *testing.F) {
	for _, sc := range Builtins() {
		b, err := json.Marshal(sc)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x"}`))
	f.Add([]byte("id: x\ntitle: T\n"))
	f.Add([]byte(`{"id":"a","locations":[{"id":"l","exits":["l"]}],"characters":[{"id":"c","start":"l"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sc, err := ParseScenario(data)
		if err != nil {
			return
		}
		again, err := json.Marshal(sc)
		if err != nil {
			t.Fatalf("a parsed scenario does not encode: %v", err)
		}
		if _, err := ParseScenario(again); err != nil {
			t.Fatalf("a parsed scenario does not parse again: %v\n%s", err, again)
		}
		if _, err := NewSim(sc, 1, Options{}); err != nil {
			t.Fatalf("a valid scenario cannot start: %v", err)
		}
	})
}
