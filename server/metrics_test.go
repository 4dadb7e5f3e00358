package server

import (
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/novel-engine/novel-engine/store"
)

// TestMetricsLabelsBounded: junk methods and paths fold into "other", so
// the exposition does not grow with what clients send.
func TestMetricsLabelsBounded(t *testing.T) {
	_, hs := newTestServer(t, store.NewMemory(), Config{})
	send := func(i int) {
		for _, path := range []string{fmt.Sprintf("/v1/junk%d", i), fmt.Sprintf("/v1/simulations/x/y%d", i), fmt.Sprintf("/z%d", i), "/v1/scenarios"} {
			req, _ := http.NewRequest(fmt.Sprintf("JUNK%dMETHOD", i), hs.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	size := func() int {
		resp, err := http.Get(hs.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return len(b)
	}
	for i := range 5 {
		send(i)
	}
	before := size()
	for i := 5; i < 1000; i++ {
		send(i)
	}
	// Counts may gain digits; a series per method or path would add
	// hundreds of kilobytes.
	if after := size(); after > before+2048 {
		t.Fatalf("/metrics grew from %d to %d bytes after 1,000 junk methods and paths", before, after)
	}
}
