package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/novel-engine/novel-engine/engine"
)

// runOffline implements "novel-engine run": it plays a story with no
// server, database or network, and prints it.
func runOffline(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("run", "usage: novel-engine run --scenario ID [--seed N] [--turns N] [--format text|markdown|json]\n"+
		"       novel-engine run --file scenario.yaml [...]\n"+
		"       novel-engine run --list\n\n"+
		"Plays one story with no server, database or network, and prints it.")
	var (
		scenarioID = fs.String("scenario", "", "id of a built-in scenario (see --list)")
		file       = fs.String("file", "", "path of a scenario file (JSON or YAML) to run instead")
		seed       = fs.Int64("seed", 1, "random seed; the same seed tells the same story")
		turns      = fs.Int("turns", 100, "most turns to play (the story may end sooner)")
		format     = fs.String("format", "text", "output: text, markdown or json")
		list       = fs.Bool("list", false, "list the built-in scenarios and exit")
	)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if *list {
		return listScenarios(stdout, *format)
	}
	switch *format {
	case "text", "markdown", "json":
	default:
		return fmt.Errorf("unknown format %q (want text, markdown or json)", *format)
	}
	if *turns < 1 {
		return fmt.Errorf("--turns must be at least 1, got %d", *turns)
	}

	var sc *engine.Scenario
	switch {
	case *file != "" && *scenarioID != "":
		return errors.New("give either --scenario or --file, not both")
	case *file != "":
		data, err := os.ReadFile(*file)
		if err != nil {
			return fmt.Errorf("read scenario: %w", err)
		}
		if sc, err = engine.ParseScenario(data); err != nil {
			return fmt.Errorf("%s: %w", *file, err)
		}
	case *scenarioID != "":
		var ok bool
		if sc, ok = engine.Builtin(*scenarioID); !ok {
			return fmt.Errorf("unknown scenario %q (see novel-engine run --list)", *scenarioID)
		}
	default:
		fs.Usage()
		return errors.New("--scenario or --file is required")
	}

	sim, err := engine.NewSim(sc, *seed, engine.Options{})
	if err != nil {
		return err
	}
	var played []engine.Turn
	for !sim.Finished() && len(played) < *turns {
		t, err := sim.Step(ctx, nil)
		if err != nil {
			return fmt.Errorf("turn %d: %w", sim.Seq()+1, err)
		}
		played = append(played, t)
		if *format == "text" {
			fmt.Fprintf(stdout, "%d. %s\n\n", t.Seq, t.Narrative)
		}
	}
	switch *format {
	case "text":
		if !sim.Finished() {
			fmt.Fprintf(stdout, "(stopped after %d turns; the story goes on)\n", len(played))
		}
	case "markdown":
		_, err = io.WriteString(stdout, engine.RenderMarkdown(sc.Title, sc.Premise, played))
	case "json":
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		err = enc.Encode(struct {
			Scenario string        `json:"scenario"`
			Title    string        `json:"title"`
			Seed     int64         `json:"seed"`
			Finished bool          `json:"finished"`
			Turns    []engine.Turn `json:"turns"`
		}{sc.ID, sc.Title, *seed, sim.Finished(), played})
	}
	return err
}

func listScenarios(w io.Writer, format string) error {
	var sums []engine.ScenarioSummary
	for _, sc := range engine.Builtins() {
		sums = append(sums, sc.Summary())
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sums)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tGENRE\tCHARACTERS\tLOCATIONS\tTITLE")
	for _, s := range sums {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", s.ID, s.Genre, s.Characters, s.Locations, s.Title)
	}
	return tw.Flush()
}
