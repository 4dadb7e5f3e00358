package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/novel-engine/novel-engine/web"
	"github.com/novel-engine/novel-engine/web/webtest"
)

// TestClientInBrowser runs the tests of client.js (testdata/client_test.js)
// in headless Chromium: reconnect, resume with since, dedupe, gap filling,
// requests and errors, against a scripted server behind a fake WebSocket.
func TestClientInBrowser(t *testing.T) {
	b := webtest.NewBrowser(t)
	srv := httptest.NewServer(testMux())
	t.Cleanup(srv.Close)

	tab := b.NewTab(t)
	tab.Do(20*time.Second, chromedp.Navigate(srv.URL+"/test/client_test.html"))
	tab.WaitJS(60*time.Second, "window.done === true", "window.results")

	type result struct {
		Name  string `json:"name"`
		OK    bool   `json:"ok"`
		Error string `json:"error"`
		MS    int    `json:"ms"`
	}
	results := webtest.MustEval[[]result](tab, "window.results")
	if len(results) < 10 {
		t.Fatalf("only %d client tests ran", len(results))
	}
	for _, r := range results {
		t.Run(r.Name, func(t *testing.T) {
			if !r.OK {
				t.Error(r.Error)
			}
		})
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("page errors: %v", errs)
	}
}

// testMux serves the UI and, under /test/, the test page and a few REST
// answers for the api() helper.
func testMux() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", web.Handler())
	mux.Handle("/test/", http.StripPrefix("/test/", http.FileServer(http.Dir("testdata"))))
	mux.HandleFunc("/test/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"hello":"world"}`)
	})
	mux.HandleFunc("/test/error", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", "2")
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"error":{"code":"rate_limited","message":"slow down"}}`)
	})
	mux.HandleFunc("/test/echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]string{
			"auth":  r.Header.Get("Authorization"),
			"body":  string(body),
			"query": r.URL.RawQuery,
			"type":  r.Header.Get("Content-Type"),
		})
	})
	return mux
}
