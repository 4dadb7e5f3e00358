package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runCLI runs the program as main does, with an empty environment.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), args, func(string) string { return "" }, &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestTopLevelHelp: -h before any command lists every command, one line
// each, and is not an error.
func TestTopLevelHelp(t *testing.T) {
	for _, arg := range []string{"-h", "--help", "help"} {
		out, _, err := runCLI(t, arg)
		if err != nil {
			t.Fatalf("novel-engine %s: %v", arg, err)
		}
		for _, c := range commands {
			if !regexp.MustCompile(`(?m)^  ` + c.name + ` +\S`).MatchString(out) {
				t.Errorf("novel-engine %s does not list %q on a line of its own:\n%s", arg, c.name, out)
			}
		}
	}
}

// TestSubcommandHelp: COMMAND -h prints the command's usage line and its
// flags on stdout and succeeds.
func TestSubcommandHelp(t *testing.T) {
	flags := map[string]string{
		"serve": "-addr", "migrate": "-database-url", "token": "-sub", "run": "-scenario", "storycheck": "-seeds",
		"watch": "-since", "healthcheck": "-url", "version": "",
	}
	for _, c := range commands {
		if c.name == "help" {
			continue
		}
		out, _, err := runCLI(t, c.name, "-h")
		if err != nil {
			t.Errorf("%s -h: %v", c.name, err)
			continue
		}
		if !strings.HasPrefix(out, "usage: novel-engine "+c.name) {
			t.Errorf("%s -h does not start with its usage line:\n%s", c.name, out)
		}
		if f, ok := flags[c.name]; !ok {
			t.Errorf("no flag to look for in %s -h", c.name)
		} else if f != "" && !strings.Contains(out, "  "+f+" ") {
			t.Errorf("%s -h does not list %s:\n%s", c.name, f, out)
		}
	}
	if _, errOut, err := runCLI(t, "watch", "--no-such-flag"); err == nil || !strings.Contains(errOut, "usage: novel-engine watch") {
		t.Errorf("a wrong flag: err %v, stderr %q; want an error and the usage", err, errOut)
	}
}

// TestVersion prints the version and what the build recorded, and the
// version given at link time wins.
func TestVersion(t *testing.T) {
	out, _, err := runCLI(t, "version")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^novel-engine \S+\n`).MatchString(out) || !strings.Contains(out, "go:") {
		t.Errorf("version prints:\n%s", out)
	}
	bin := nodeBinary(t)
	linked := t.TempDir() + "/novel-engine"
	if b, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", linked, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	for bin, want := range map[string]string{bin: "novel-engine ", linked: "novel-engine v9.8.7\n"} {
		b, err := exec.Command(bin, "version").Output()
		if err != nil || !strings.HasPrefix(string(b), want) || !strings.Contains(string(b), "module:   github.com/novel-engine/novel-engine") {
			t.Errorf("%s version: %v\n%s", bin, err, b)
		}
	}
}

// TestHealthcheck succeeds against a live node and fails, as an exit
// status, against one that answers 503 or nothing.
func TestHealthcheck(t *testing.T) {
	n := startNode(t, nil)
	if out, _, err := runCLI(t, "healthcheck", "--url", n.URL+"/healthz"); err != nil || out != "ok\n" {
		t.Errorf("healthcheck of a live node: %v %q", err, out)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	if _, _, err := runCLI(t, "healthcheck", "--url", down.URL+"/healthz"); err == nil {
		t.Errorf("healthcheck of a node answering 503 succeeded")
	}
	gone := freeAddr(t)
	cmd := exec.Command(nodeBinary(t), "healthcheck")
	cmd.Env = []string{"NOVEL_ADDR=" + gone}
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("healthcheck of no node exited 0: %s", out)
	}
	for addr, want := range map[string]string{
		":8080": "http://127.0.0.1:8080/healthz", "[::]:9000": "http://127.0.0.1:9000/healthz",
		"10.0.0.5:81": "http://10.0.0.5:81/healthz", "8080": "http://127.0.0.1:8080/healthz",
	} {
		if got := localHealthURL(addr); got != want {
			t.Errorf("localHealthURL(%q) = %q, want %q", addr, got, want)
		}
	}
}

// TestWatchUnknownSimulation: the server's not_found is printed and the
// exit status says it failed.
func TestWatchUnknownSimulation(t *testing.T) {
	n := startNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBinary(t), "watch", "--server", n.URL, "s-no-such-story")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("watch of an unknown story: %v (stdout %q, stderr %q); want a non-zero exit", err, out.String(), errOut.String())
	}
	if ctx.Err() != nil {
		t.Fatalf("watch of an unknown story did not end by itself")
	}
	if !strings.Contains(errOut.String(), "not_found") || !strings.Contains(errOut.String(), "s-no-such-story") {
		t.Errorf("stderr does not say what the server said: %q", errOut.String())
	}
}

// TestWatchPrintsStory: watch prints a short story's turns and ends with
// it, successfully.
func TestWatchPrintsStory(t *testing.T) {
	n := startNode(t, nil)
	tok := n.guest(t, "Ada")
	v := n.create(t, tok, map[string]any{"scenario": "hollin", "seed": 7, "turn_interval_ms": 10, "max_turns": 3})
	out, errOut, err := runCLI(t, "watch", "--server", n.URL, v.ID)
	if err != nil {
		t.Fatalf("watch: %v (%s)", err, errOut)
	}
	for _, want := range []string{"[1] ", "[2] ", "[3] "} {
		if !strings.Contains(out, want) {
			t.Errorf("watch printed no turn %q:\n%s", want, out)
		}
	}
}

// TestStartupLineNamesURL: a node on every interface says to open
// localhost, not [::].
func TestStartupLineNamesURL(t *testing.T) {
	if got := browseURL("[::]:8080"); got != "http://localhost:8080" {
		t.Errorf("browseURL([::]:8080) = %q", got)
	}
	if got := browseURL("0.0.0.0:8080"); got != "http://localhost:8080" {
		t.Errorf("browseURL(0.0.0.0:8080) = %q", got)
	}
	if got := browseURL("127.0.0.1:9000"); got != "http://127.0.0.1:9000" {
		t.Errorf("browseURL(127.0.0.1:9000) = %q", got)
	}
	port := strings.TrimPrefix(freeAddr(t), "127.0.0.1")
	n := startNode(t, map[string]string{"NOVEL_ADDR": port})
	if want := "http://localhost" + port; n.URL != want {
		t.Errorf("the node on %s says it listens on %s, want %s", port, n.URL, want)
	}
	if !strings.Contains(n.out.String(), "open http://localhost"+port+"/ ") {
		t.Errorf("the startup line names no page to open: %q", n.out.String())
	}
}
