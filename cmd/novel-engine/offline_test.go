package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runOfflineArgs(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := runOffline(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestOfflineList(t *testing.T) {
	out, _, err := runOfflineArgs(t, "--list")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"coldwater", "heronsalt", "hollin"} {
		if !strings.Contains(out, id) {
			t.Errorf("--list lacks %s:\n%s", id, out)
		}
	}
}

func TestOfflineFormatsAreDeterministic(t *testing.T) {
	for _, format := range []string{"text", "markdown", "json"} {
		a, _, err := runOfflineArgs(t, "--scenario", "hollin", "--seed", "7", "--turns", "30", "--format", format)
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		b, _, _ := runOfflineArgs(t, "--scenario", "hollin", "--seed", "7", "--turns", "30", "--format", format)
		if a != b || a == "" {
			t.Fatalf("%s: output differs between runs or is empty", format)
		}
		switch format {
		case "markdown":
			if !strings.HasPrefix(a, "# The Lantern of Hollin Vale") {
				t.Fatalf("markdown starts %.40q", a)
			}
		case "json":
			var v struct {
				Turns []struct {
					Seq       int64  `json:"seq"`
					StateHash string `json:"state_hash"`
				} `json:"turns"`
			}
			if err := json.Unmarshal([]byte(a), &v); err != nil || len(v.Turns) == 0 || v.Turns[0].Seq != 1 {
				t.Fatalf("json output: %v %+v", err, v)
			}
		}
	}
}

func TestOfflineFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.yaml")
	data := `
id: pair
title: A Pair
premise: Two rooms, one key.
genre: test
locations:
  - {id: a, name: the front room, exits: [b]}
  - {id: b, name: the back room, exits: [], items: [key]}
items: [{id: key, name: a brass key}]
characters:
  - {id: x, name: Ada, role: lodger, pronoun: she, start: a, goals: [{id: g, kind: obtain, item: key, text: to get the key}]}
  - {id: y, name: Bo, role: landlord, pronoun: he, start: b}
`
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := runOfflineArgs(t, "--file", path, "--turns", "20")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Ada") {
		t.Fatalf("story without its people:\n%s", out)
	}
	if err := os.WriteFile(path, []byte("id: broken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runOfflineArgs(t, "--file", path); err == nil || !strings.Contains(err.Error(), "title") {
		t.Fatalf("invalid file: %v", err)
	}
}

func TestOfflineErrors(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"--scenario", "nope"},
		{"--scenario", "hollin", "--format", "pdf"},
		{"--scenario", "hollin", "--turns", "0"},
		{"--scenario", "hollin", "--file", "x.yaml"},
		{"--bogus"},
		{"--scenario", "hollin", "extra"},
	} {
		if _, _, err := runOfflineArgs(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"run", "-h"}, os.Getenv, &out, &errOut); err != nil {
		t.Errorf("run -h: %v", err)
	}
}
