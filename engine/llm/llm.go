// Package llm is a Decider that asks a language model what each persona
// does, through any OpenAI-compatible chat completions endpoint (Ollama,
// llama.cpp server, vLLM or a hosted API).
//
// The prompt is built from the persona's Perception alone, in a fixed
// order and with no clock, so equal perceptions give byte-equal requests
// and a response cache can serve repeats. An answer that is not a valid
// action, a failed or slow request and a spent token budget are errors;
// the engine then falls back to its built-in decider for that persona.
package llm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/novel-engine/novel-engine/engine"
)

// ErrBudget is returned by Decide once the token budget is spent.
var ErrBudget = errors.New("llm: token budget spent")

// Options configure a Decider. Only URL is required.
type Options struct {
	// URL of the endpoint: an API base such as http://localhost:11434/v1
	// ("/chat/completions" is added) or the full chat completions address.
	// A bare host gets "/v1/chat/completions".
	URL string
	// Model names the model. Defaults to none: the field is left out of
	// requests, which llama.cpp server accepts; Ollama, vLLM and hosted
	// APIs need it.
	Model string
	// APIKey is sent as "Authorization: Bearer <key>". Defaults to none:
	// no Authorization header. It is never logged.
	APIKey string
	// Timeout bounds each request. Defaults to 20s.
	Timeout time.Duration
	// MaxTokens bounds each response. Defaults to 256.
	MaxTokens int
	// Budget is the total of tokens (prompt and response, as the server
	// reports them in usage.total_tokens) this decider may spend. Requests
	// already under way when it runs out may overshoot it. Defaults to 0:
	// unlimited.
	Budget int64
	// CacheSize is how many answers are kept, keyed by the request. Defaults
	// to 4096; a negative size keeps none.
	CacheSize int
	// HTTPClient sends the requests. Defaults to a client of its own that
	// keeps up to 64 idle connections to the endpoint, with no overall
	// timeout (Timeout bounds each request).
	HTTPClient *http.Client
	// Logger receives failures and, at debug level, every decision.
	// Defaults to discarding.
	Logger *slog.Logger
}

// Decider asks a model for each persona's action. It is safe for
// concurrent use.
type Decider struct {
	// Set at construction.
	opts     Options
	endpoint string // the chat completions address
	safeURL  string // endpoint without credentials or query, for logs and errors
	client   *http.Client
	log      *slog.Logger
	cache    *lru // nil when caching is off; has its own lock

	// Changed by Decide, concurrently.
	used       atomic.Int64 // tokens spent
	noJSONMode atomic.Bool  // the server refused response_format
	failing    atomic.Bool  // the last request failed; failures are logged on change
	spentNoted atomic.Bool  // the spent budget has been logged
}

var _ engine.Decider = (*Decider)(nil)

// New returns a Decider for the endpoint in opts.
func New(opts Options) (*Decider, error) {
	if opts.URL == "" {
		return nil, errors.New("llm: no URL")
	}
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("llm: URL must be an http or https address, like http://localhost:11434/v1")
	}
	switch p := strings.TrimRight(u.Path, "/"); {
	case strings.HasSuffix(p, "/chat/completions"):
		u.Path = p
	case p == "":
		u.Path = "/v1/chat/completions"
	default:
		u.Path = p + "/chat/completions"
	}
	safe := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	if opts.Timeout <= 0 {
		opts.Timeout = 20 * time.Second
	}
	if opts.MaxTokens <= 0 {
		opts.MaxTokens = 256
	}
	if opts.Budget < 0 {
		opts.Budget = 0
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = 4096
	}
	d := &Decider{opts: opts, endpoint: u.String(), safeURL: safe.String(), client: opts.HTTPClient, log: opts.Logger}
	if d.client == nil {
		// Every persona of a turn asks at once: keep their connections.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		d.client = &http.Client{Transport: tr}
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if opts.CacheSize > 0 {
		d.cache = newLRU(opts.CacheSize)
	}
	return d, nil
}

// Source labels the events of actions this decider chose.
func (d *Decider) Source() string { return engine.SourceLLM }

// Used reports the tokens spent so far.
func (d *Decider) Used() int64 { return d.used.Load() }

// Endpoint is the chat completions address requests go to, without any
// credentials or query it was given with.
func (d *Decider) Endpoint() string { return d.safeURL }

// Decide implements engine.Decider: it asks the model, or the cache, for
// the action of the persona that perceives p.
func (d *Decider) Decide(ctx context.Context, p engine.Perception) (engine.Action, error) {
	if d.opts.Budget > 0 && d.used.Load() >= d.opts.Budget {
		if !d.spentNoted.Swap(true) {
			d.log.Warn("llm token budget spent: the built-in decider takes over", "budget", d.opts.Budget, "used", d.used.Load())
		}
		return engine.Action{}, ErrBudget
	}
	m := newMenu(&p)
	system, user := prompt(&p, m)
	jsonMode := !d.noJSONMode.Load()
	body := d.requestBody(system, user, jsonMode)
	key := sha256.Sum256(body)
	if d.cache != nil {
		if a, ok := d.cache.get(key); ok {
			d.log.Debug("llm decision", "character", p.Self.ID, "kind", a.Kind, "target", a.Target, "cached", true)
			return a, nil
		}
	}

	content, err := d.complete(ctx, body)
	if err != nil && jsonMode && errors.Is(err, errBadRequest) {
		// Some servers do not know response_format: ask once more
		// without it, and from now on.
		if !d.noJSONMode.Swap(true) {
			d.log.Warn("llm endpoint refused response_format json_object; asking for JSON in the prompt only", "url", d.safeURL)
		}
		body = d.requestBody(system, user, false)
		key = sha256.Sum256(body)
		content, err = d.complete(ctx, body)
	}
	if err != nil {
		if !d.failing.Swap(true) {
			d.log.Warn("llm request failed; the built-in decider takes over until it answers", "url", d.safeURL, "err", err)
		}
		return engine.Action{}, err
	}
	if d.failing.Swap(false) {
		d.log.Info("llm answering again", "url", d.safeURL)
	}
	ans, err := parseAnswer(content)
	if err != nil {
		d.log.Debug("llm answer unreadable", "character", p.Self.ID, "err", err)
		return engine.Action{}, err
	}
	a, err := m.action(ans)
	if err != nil {
		d.log.Debug("llm answer invalid", "character", p.Self.ID, "kind", ans.Kind, "target", ans.Target, "err", err)
		return engine.Action{}, fmt.Errorf("llm: invalid action: %w", err)
	}
	if d.cache != nil {
		d.cache.put(key, a)
	}
	d.log.Debug("llm decision", "character", p.Self.ID, "kind", a.Kind, "target", a.Target, "why", ans.Why, "cached", false)
	return a, nil
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type responseFormat struct {
	Type string `json:"type"`
}

// chatRequest is the request body. Its fields encode in this order, so
// equal prompts give equal bytes.
type chatRequest struct {
	Model          string          `json:"model,omitempty"`
	Messages       []chatMessage   `json:"messages"`
	MaxTokens      int             `json:"max_tokens"`
	ResponseFormat *responseFormat `json:"response_format,omitempty"`
	Stream         bool            `json:"stream"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
	} `json:"choices"`
	Usage *struct {
		TotalTokens int64 `json:"total_tokens"`
	} `json:"usage"`
}

func (d *Decider) requestBody(system, user string, jsonMode bool) []byte {
	req := chatRequest{
		Model:     d.opts.Model,
		Messages:  []chatMessage{{Role: "system", Content: system}, {Role: "user", Content: user}},
		MaxTokens: d.opts.MaxTokens,
	}
	if jsonMode {
		req.ResponseFormat = &responseFormat{Type: "json_object"}
	}
	b, err := json.Marshal(req)
	if err != nil {
		// Strings and ints only: this cannot fail.
		panic(err)
	}
	return b
}

// errBadRequest marks an HTTP 400 reply.
var errBadRequest = errors.New("bad request")

// maxResponse bounds the bytes read of a reply.
const maxResponse = 1 << 20

// complete sends one request and returns the first choice's content. It
// counts the tokens the server says it spent.
func (d *Decider) complete(ctx context.Context, body []byte) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, d.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return "", fmt.Errorf("llm: cannot make a request to %s", d.safeURL)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if d.opts.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+d.opts.APIKey)
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			// The address may hold credentials: name it without them.
			err = &url.Error{Op: ue.Op, URL: d.safeURL, Err: ue.Err}
		}
		return "", fmt.Errorf("llm: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return "", fmt.Errorf("llm: read reply from %s: %w", d.safeURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		snippet := strings.TrimSpace(d.redact(string(data)))
		if len(snippet) > 200 {
			snippet = snippet[:200] + "…"
		}
		err := fmt.Errorf("llm: %s replied %s: %s", d.safeURL, resp.Status, snippet)
		if resp.StatusCode == http.StatusBadRequest {
			err = fmt.Errorf("%w (%w)", err, errBadRequest)
		}
		return "", err
	}
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil {
		return "", fmt.Errorf("llm: decode reply: %w", err)
	}
	tokens := int64(0)
	if cr.Usage != nil {
		tokens = cr.Usage.TotalTokens
	}
	if tokens <= 0 {
		// No usage reported: count about four bytes a token.
		tokens = int64(len(body)+len(data))/4 + 1
	}
	d.used.Add(tokens)
	if len(cr.Choices) == 0 {
		return "", errors.New("llm: reply has no choices")
	}
	return cr.Choices[0].Message.Content, nil
}

// redact removes the API key from text that may echo it.
func (d *Decider) redact(s string) string {
	if d.opts.APIKey == "" {
		return s
	}
	return strings.ReplaceAll(s, d.opts.APIKey, "[redacted]")
}
