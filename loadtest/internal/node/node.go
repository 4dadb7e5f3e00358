// Package node is what the load generators share to drive a Novel Engine
// node: starting one from its binary, signing in, starting stories that
// outlive a measurement, and reading a turn message's seq and time.
package node

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is a node started by Spawn.
type Process struct {
	URL   string // http://127.0.0.1:port
	Pprof string // the profiles' base URL, when NOVEL_PPROF_ADDR was given
	cmd   *exec.Cmd
	done  chan struct{}
}

var (
	listenRe = regexp.MustCompile(`listening on (http://\S+)`)
	pprofRe  = regexp.MustCompile(`pprof on (http://\S+)`)
)

// Unlimited lifts the node's quotas and limits: a load generator is one
// client at one address playing thousands, which a node open to the
// public would rightly refuse.
var Unlimited = []string{
	"NOVEL_MAX_USER_STORIES=0",
	"NOVEL_MAX_GUEST_ADDR_STORIES=0",
	"NOVEL_MAX_STORIES=0",
	"NOVEL_MAX_LOAD=0",
	"NOVEL_GUEST_SIGNINS_PER_HOUR=0",
	"NOVEL_READ_RATE=0",
	"NOVEL_WS_USER_RATE=0",
	"NOVEL_MAX_CONNS_PER_ADDR=0",
	"NOVEL_MAX_CONNS_PER_USER=0",
	"NOVEL_MAX_CONNS=0",
	"NOVEL_CONN_RATE=0",
	"NOVEL_MAX_SUBSCRIPTIONS=0",
}

// Spawn starts `bin serve` on a free loopback port with its limits lifted
// (Unlimited) and env added to this process's environment, and waits
// until it listens. Its stderr goes to stderr.
func Spawn(bin string, env []string, stderr io.Writer) (*Process, error) {
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "NOVEL_ADDR=127.0.0.1:0", "NOVEL_LOG_LEVEL=warn")
	cmd.Env = append(cmd.Env, Unlimited...)
	cmd.Env = append(cmd.Env, env...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, done: make(chan struct{})}
	wantPprof := false
	for _, e := range env {
		if strings.HasPrefix(e, "NOVEL_PPROF_ADDR=") && e != "NOVEL_PPROF_ADDR=" {
			wantPprof = true
		}
	}
	found := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		pending := true
		for sc.Scan() {
			line := sc.Text()
			if m := pprofRe.FindStringSubmatch(line); m != nil {
				p.Pprof = m[1]
			} else if m := listenRe.FindStringSubmatch(line); m != nil {
				p.URL = m[1]
			}
			if pending && p.URL != "" && (p.Pprof != "" || !wantPprof) {
				pending = false
				close(found)
			}
		}
		cmd.Wait()
	}()
	select {
	case <-found:
		return p, nil
	case <-p.done:
		return nil, errors.New("the spawned node exited before listening")
	case <-time.After(15 * time.Second):
		p.Stop()
		return nil, errors.New("the spawned node did not start listening")
	}
}

// Pid is the node's process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Stop sends SIGTERM (a drain) and waits for the node to exit, killing it
// if it takes longer than half a minute.
func (p *Process) Stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// Guest signs in as a guest and returns the token.
func Guest(base string) (string, error) {
	resp, err := http.Post(base+"/v1/auth/guest", "application/json", strings.NewReader(`{"name":"loadgen"}`))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		return "", fmt.Errorf("guest sign-in: %d %v", resp.StatusCode, err)
	}
	return out.Token, nil
}

// EndlessScenarios returns the built-in scenarios without their end
// conditions and with a long planned length, so that stories keep going
// for as long as a measurement takes, with realistic turns.
func EndlessScenarios(base string) ([]json.RawMessage, error) {
	var list struct {
		Scenarios []struct {
			ID string `json:"id"`
		} `json:"scenarios"`
	}
	if err := GetJSON(base+"/v1/scenarios", &list); err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, s := range list.Scenarios {
		var sc map[string]any
		if err := GetJSON(base+"/v1/scenarios/"+s.ID, &sc); err != nil {
			return nil, err
		}
		delete(sc, "end")
		sc["id"] = s.ID + "-endless"
		sc["length"] = 10000
		b, _ := json.Marshal(sc)
		out = append(out, b)
	}
	if len(out) == 0 {
		return nil, errors.New("the node has no scenarios")
	}
	return out, nil
}

// GetJSON decodes the answer to GET url into v.
func GetJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Create starts a story of scenario at one turn per interval and returns
// its id. It waits and tries again when the node's rate limit refuses it.
func Create(base, tok string, scenario json.RawMessage, seed int, interval time.Duration) (string, error) {
	body := fmt.Sprintf(`{"scenario":%s,"seed":%d,"turn_interval_ms":%d,"max_turns":100000}`, scenario, seed, interval.Milliseconds())
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequest("POST", base+"/v1/simulations", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 50 {
			resp.Body.Close()
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var sim struct {
			ID string `json:"id"`
		}
		err = json.NewDecoder(resp.Body).Decode(&sim)
		resp.Body.Close()
		if err != nil || sim.ID == "" {
			return "", fmt.Errorf("create simulation: %d %v", resp.StatusCode, err)
		}
		return sim.ID, nil
	}
}

var (
	seqKey = []byte(`"seq":`)
	atKey  = []byte(`"at":"`)
)

// TurnSeqAt reads the first "seq" number and the first "at" time of a
// message without decoding it all: in a turn message, the turn's seq and
// the time it was produced.
func TurnSeqAt(b []byte) (int64, time.Time, bool) {
	i := bytes.Index(b, seqKey)
	if i < 0 {
		return 0, time.Time{}, false
	}
	j := i + len(seqKey)
	k := j
	for k < len(b) && b[k] >= '0' && b[k] <= '9' {
		k++
	}
	seq, err := strconv.ParseInt(string(b[j:k]), 10, 64)
	if err != nil {
		return 0, time.Time{}, false
	}
	i = bytes.Index(b, atKey)
	if i < 0 {
		return 0, time.Time{}, false
	}
	j = i + len(atKey)
	k = bytes.IndexByte(b[j:], '"')
	if k < 0 {
		return 0, time.Time{}, false
	}
	at, err := time.Parse(time.RFC3339Nano, string(b[j:j+k]))
	return seq, at, err == nil
}
