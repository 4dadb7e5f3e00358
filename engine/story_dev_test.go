package engine

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestPrintStory prints a story when STORY=scenario[:seed[:turns]] is set.
func TestPrintStory(t *testing.T) {
	spec := os.Getenv("STORY")
	if spec == "" {
		t.Skip("set STORY=id:seed:turns")
	}
	parts := strings.Split(spec, ":")
	id, seed, turns := parts[0], int64(7), 30
	if len(parts) > 1 {
		seed, _ = strconv.ParseInt(parts[1], 10, 64)
	}
	if len(parts) > 2 {
		turns, _ = strconv.Atoi(parts[2])
	}
	sc, _ := Builtin(id)
	s, err := NewSim(sc, seed, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var all []Turn
	for !s.Finished() && int(s.Seq()) < turns {
		tr, err := s.Step(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, tr)
	}
	fmt.Println(RenderMarkdown(sc.Title, sc.Premise, all))
}
