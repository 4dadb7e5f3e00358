package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// version is the release this binary was built from, set at link time:
//
//	go build -ldflags "-X main.version=v1.2.3" ./cmd/novel-engine
//
// Empty, it is taken from the module (go install …@v1.2.3) or is "devel".
var version string

// buildVersion returns the version to report.
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// runVersion prints the version, then what the Go toolchain recorded of
// the build: the commit, its time, whether the tree was modified, and Go.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("version", "usage: novel-engine version\n\nPrints the version and build information.")
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("version: unexpected arguments %q", fs.Args())
	}
	fmt.Fprintf(stdout, "novel-engine %s\n", buildVersion())
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		fmt.Fprintf(stdout, "go:       %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return nil
	}
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	fmt.Fprintf(stdout, "module:   %s %s\n", bi.Main.Path, bi.Main.Version)
	if rev := settings["vcs.revision"]; rev != "" {
		if settings["vcs.modified"] == "true" {
			rev += " (modified)"
		}
		fmt.Fprintf(stdout, "commit:   %s\n", rev)
	}
	if t := settings["vcs.time"]; t != "" {
		fmt.Fprintf(stdout, "built at: %s\n", t)
	}
	fmt.Fprintf(stdout, "go:       %s %s/%s\n", bi.GoVersion, settings["GOOS"], settings["GOARCH"])
	var flags []string
	for _, k := range []string{"CGO_ENABLED", "-trimpath", "-race"} {
		if v, ok := settings[k]; ok {
			flags = append(flags, k+"="+v)
		}
	}
	if len(flags) > 0 {
		fmt.Fprintf(stdout, "build:    %s\n", strings.Join(flags, " "))
	}
	return nil
}
