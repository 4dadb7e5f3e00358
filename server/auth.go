package server

import (
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Roles of the protocol.
const (
	RoleAnonymous = "anonymous"
	RoleViewer    = "viewer"
	RolePlayer    = "player"
	RoleAdmin     = "admin"
)

// User is who made a request.
type User struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Role      string    `json:"role"`
	ExpiresAt time.Time `json:"-"`
}

var anonymous = User{Role: RoleAnonymous}

// Claims are the JWT claims the server reads and issues.
type Claims struct {
	jwt.RegisteredClaims
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
}

// Auth issues and checks tokens.
type Auth struct {
	// set at construction
	secret    []byte           // HS256 key
	publicKey crypto.PublicKey // RS256 / EdDSA key of an external issuer, or nil
	issuer    string
	audience  string
	parser    *jwt.Parser
	now       func() time.Time
}

// NewAuth returns an Auth for HS256 tokens signed with secret and, when
// publicKeyPEM is not empty, RS256 or EdDSA tokens of an external issuer.
func NewAuth(secret []byte, publicKeyPEM []byte, issuer, audience string, now func() time.Time) (*Auth, error) {
	a := &Auth{secret: secret, issuer: issuer, audience: audience, now: now}
	methods := []string{"HS256"}
	if len(publicKeyPEM) > 0 {
		if k, err := jwt.ParseRSAPublicKeyFromPEM(publicKeyPEM); err == nil {
			a.publicKey = k
			methods = append(methods, "RS256")
		} else if k, err := jwt.ParseEdPublicKeyFromPEM(publicKeyPEM); err == nil {
			a.publicKey = k
			methods = append(methods, "EdDSA")
		} else {
			return nil, errors.New("NOVEL_JWT_PUBLIC_KEY: not an RSA or Ed25519 public key in PEM")
		}
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods(methods),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(now),
		jwt.WithLeeway(5*time.Second),
	)
	return a, nil
}

// Issue signs a token for a user, valid for ttl.
func (a *Auth) Issue(u User, ttl time.Duration) (string, time.Time, error) {
	now := a.now()
	exp := now.Add(ttl).Truncate(time.Second)
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   u.ID,
			Issuer:    a.issuer,
			Audience:  jwt.ClaimStrings{a.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        randomID(8),
		},
		Name: u.Name,
		Role: u.Role,
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(a.secret)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign token: %w", err)
	}
	return tok, exp, nil
}

// Verify checks a token's algorithm, signature, expiry, issuer and
// audience, and returns its user.
func (a *Auth) Verify(token string) (User, error) {
	var c Claims
	_, err := a.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if t.Method.Alg() == "HS256" {
			return a.secret, nil
		}
		return a.publicKey, nil
	})
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return User{}, Errorf(CodeUnauthorized, "token expired")
		}
		return User{}, Errorf(CodeUnauthorized, "invalid token")
	}
	if c.Subject == "" || len(c.Subject) > maxIDLen || hasControl(c.Subject) {
		return User{}, Errorf(CodeUnauthorized, "token has no valid subject")
	}
	u := User{ID: c.Subject, Name: c.Name, Role: c.Role, ExpiresAt: c.ExpiresAt.Time}
	switch u.Role {
	case RoleViewer, RolePlayer, RoleAdmin:
	case "":
		u.Role = RolePlayer
	default:
		return User{}, Errorf(CodeUnauthorized, "token has an unknown role %q", truncate(c.Role, 20))
	}
	if hasControl(u.Name) {
		u.Name = "" // an issuer's name that no store or page should show
	}
	if u.Name == "" {
		u.Name = u.ID
	}
	u.Name = truncate(u.Name, maxNameLen)
	return u, nil
}

// wsPath is the one route that takes a token in its query string:
// browsers cannot set a WebSocket's headers. Anywhere else a query token
// would only end up in access logs.
const wsPath = "/v1/ws"

// tokenFrom reads the bearer token of a request: the Authorization header,
// or, on the WebSocket route, the token query parameter.
func tokenFrom(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), nil
		}
		return "\x00invalid", nil // present but not a bearer token
	}
	q := r.URL.Query().Get("token")
	if q != "" && r.URL.Path != wsPath {
		return "", Errorf(CodeUnauthorized, "a token in the query string is accepted only on %s; send it in the Authorization header", wsPath)
	}
	return q, nil
}

type ctxKey int

const userKey ctxKey = iota

// authenticate resolves the request's user: anonymous without a token,
// 401 with a bad one.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := anonymous
		tok, err := tokenFrom(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if tok != "" {
			if u, err = s.auth.Verify(tok); err != nil {
				s.writeError(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey, u)))
	})
}

func userFrom(ctx context.Context) User {
	if u, ok := ctx.Value(userKey).(User); ok {
		return u
	}
	return anonymous
}

func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
