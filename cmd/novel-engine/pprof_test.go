package main

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

var pprofRe = regexp.MustCompile(`pprof on (http://\S+)`)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPprofOnItsOwnListener(t *testing.T) {
	n := startNode(t, map[string]string{"NOVEL_PPROF_ADDR": "127.0.0.1:0"})
	m := pprofRe.FindStringSubmatch(n.out.String())
	if m == nil {
		t.Fatalf("no pprof address printed:\n%s", n.out.String())
	}
	if strings.HasPrefix(m[1], n.URL) {
		t.Fatalf("pprof shares the public address %s", n.URL)
	}
	code, body := get(t, m[1]+"goroutine?debug=1")
	if code != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("pprof goroutine profile: %d %.200s", code, body)
	}
	code, body = get(t, n.URL+"/debug/pprof/goroutine?debug=1")
	if strings.Contains(body, "goroutine profile:") {
		t.Fatalf("the public listener serves profiles (%d)", code)
	}
}

func TestPprofOffByDefault(t *testing.T) {
	n := startNode(t, nil)
	if pprofRe.MatchString(n.out.String()) {
		t.Fatalf("pprof served without NOVEL_PPROF_ADDR:\n%s", n.out.String())
	}
	if _, body := get(t, n.URL+"/debug/pprof/goroutine?debug=1"); strings.Contains(body, "goroutine profile:") {
		t.Fatal("the public listener serves profiles")
	}
}
