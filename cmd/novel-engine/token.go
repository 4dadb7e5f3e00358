package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/novel-engine/novel-engine/server"
)

// runToken mints a token that servers sharing NOVEL_JWT_SECRET accept.
func runToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlags("token", "usage: novel-engine token --sub ID [--role viewer|player|admin] [--ttl D]\n\n"+
		"Prints a token that the nodes sharing NOVEL_JWT_SECRET accept.")
	sub := fs.String("sub", "", "the user's id (required)")
	name := fs.String("name", "", "the user's display name; defaults to the id")
	role := fs.String("role", server.RolePlayer, "viewer, player or admin")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	secret := fs.String("jwt-secret", "", "HS256 key shared with the servers; prefer the variable (NOVEL_JWT_SECRET)")
	issuer := fs.String("jwt-issuer", envOr(getenv, "NOVEL_JWT_ISSUER", "novel-engine"), "iss claim (NOVEL_JWT_ISSUER)")
	audience := fs.String("jwt-audience", envOr(getenv, "NOVEL_JWT_AUDIENCE", "novel-engine"), "aud claim (NOVEL_JWT_AUDIENCE)")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if *secret == "" {
		*secret = getenv("NOVEL_JWT_SECRET") // not the flag's default: -h must not print it
	}
	switch {
	case *sub == "":
		return errors.New("token: --sub is required")
	case len(*sub) > 64:
		return errors.New("token: --sub is longer than 64 characters")
	case *secret == "":
		return errors.New("token: set NOVEL_JWT_SECRET (or --jwt-secret) to the servers' key")
	case *ttl <= 0:
		return errors.New("token: --ttl must be positive")
	}
	switch *role {
	case server.RoleViewer, server.RolePlayer, server.RoleAdmin:
	default:
		return fmt.Errorf("token: role %q: want viewer, player or admin", *role)
	}
	if *name == "" {
		*name = *sub
	}
	auth, err := server.NewAuth([]byte(*secret), nil, *issuer, *audience, time.Now)
	if err != nil {
		return err
	}
	tok, _, err := auth.Issue(server.User{ID: *sub, Name: *name, Role: *role}, *ttl)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

func envOr(getenv func(string) string, k, def string) string {
	if v := getenv(k); v != "" {
		return v
	}
	return def
}
