package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/novel-engine/novel-engine/engine"
	"github.com/novel-engine/novel-engine/engine/storycheck"
)

// runStorycheck implements "novel-engine storycheck": it plays many
// seeds of the built-in scenarios and prints, for each, the table of
// story checks (measure, value, aim, ok).
func runStorycheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("storycheck", "usage: novel-engine storycheck [--seeds N] [--scenario ID | --file scenario.yaml] [--first-seed N] [--strict] [--examples]\n\n"+
		"Plays N seeds of every built-in scenario (or one) and prints, for each, what a reader\n"+
		"would judge: sentences that contradict the world, by class; idle turns; moves back;\n"+
		"sentence shapes; repeated sentences; turns that changed something; the most used\n"+
		"template family; relationship lines with a cause; introductions; endings; determinism.\n"+
		"Progress goes to stderr.")
	var (
		seeds    = fs.Int("seeds", 50, "runs per scenario")
		first    = fs.Int64("first-seed", 100, "seed of the first run")
		scenario = fs.String("scenario", "", "only this built-in scenario (default: all)")
		file     = fs.String("file", "", "path of a scenario file (JSON or YAML) to measure instead")
		strict   = fs.Bool("strict", false, "exit non-zero unless every aim is met")
		examples = fs.Bool("examples", false, "after each table, quote a few sentences of each contradiction")
		maxTurns = fs.Int("max-turns", 300, "most turns to play per run")
	)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *seeds < 1 {
		return fmt.Errorf("--seeds must be at least 1, got %d", *seeds)
	}
	scs := engine.Builtins()
	switch {
	case *file != "" && *scenario != "":
		return errors.New("give either --scenario or --file, not both")
	case *file != "":
		data, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("read scenario: %w", err)
		}
		sc, err := engine.ParseScenario(data)
		if err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
		scs = []*engine.Scenario{sc}
	case *scenario != "":
		sc, ok := engine.Builtin(*scenario)
		if !ok {
			return fmt.Errorf("unknown scenario %q (see novel-engine run --list)", *scenario)
		}
		scs = []*engine.Scenario{sc}
	}
	missed := 0
	for k, sc := range scs {
		f, err := storycheck.Measure(ctx, sc, storycheck.Options{
			Seeds: *seeds, FirstSeed: *first, MaxTurns: *maxTurns,
			Progress: func(id string, done, total int) {
				fmt.Fprintf(stderr, "\r%s: %d/%d runs", id, done, total)
				if done == total {
					fmt.Fprintln(stderr)
				}
			},
		})
		if err != nil {
			return err
		}
		if k > 0 {
			fmt.Fprintln(stdout)
		}
		if err := f.WriteTable(stdout); err != nil {
			return err
		}
		for _, r := range f.Rows() {
			if !r.OK {
				missed++
			}
		}
		if *examples {
			for _, c := range append(storycheck.Classes, storycheck.ExampleUnintroduced) {
				for _, e := range f.Examples[c] {
					fmt.Fprintf(stdout, "  %s: %s\n", c, e)
				}
			}
		}
	}
	if *strict && missed > 0 {
		return errors.New(fmt.Sprint(missed, " aims not met"))
	}
	return nil
}
