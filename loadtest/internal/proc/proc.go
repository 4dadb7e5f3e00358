// Package proc reads a process's CPU time and resident memory from Linux's
// /proc, for the load generators' per-delivery and per-connection costs.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// userHZ is the unit of /proc/<pid>/stat's times. The kernel reports them
// in USER_HZ, which is 100 on every architecture Linux exposes to user
// space (getconf CLK_TCK), whatever its internal HZ.
const userHZ = 100

// CPU returns the user plus system CPU time the process has used.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatCPU(b)
}

// ParseStatCPU reads utime and stime (fields 14 and 15) from the content
// of /proc/<pid>/stat. The command name (field 2) is in parentheses and
// may hold spaces and parentheses itself, so fields are counted from the
// last ')'.
func ParseStatCPU(b []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("stat: no command name")
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / userHZ, nil
}

// RSS returns the process's resident memory in bytes.
func RSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return ParseStatusRSS(b)
}

// ParseStatusRSS reads VmRSS from the content of /proc/<pid>/status.
func ParseStatusRSS(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("status: VmRSS line %q", bytes.TrimSpace(line))
		}
		n, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("status: %w", err)
		}
		return n << 10, nil
	}
	return 0, errors.New("status: no VmRSS line")
}

// Machine returns the CPU time all processors have spent busy (anything
// but idle and waiting for I/O), summed over processors, since boot.
func Machine() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	return ParseMachineBusy(b)
}

// ParseMachineBusy reads the busy time from the content of /proc/stat:
// its first line, "cpu user nice system idle iowait irq softirq steal
// guest guest_nice", in USER_HZ. Guest time is already in user and nice,
// and steal is time the machine did not have, so neither is added.
func ParseMachineBusy(b []byte) (time.Duration, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := bytes.Fields(line)
	if len(f) < 8 || string(f[0]) != "cpu" {
		return 0, fmt.Errorf("/proc/stat: first line %q", line)
	}
	var busy int64
	for i, s := range f[1:8] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %w", err)
		}
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		busy += n
	}
	return time.Duration(busy) * time.Second / userHZ, nil
}

// Writes returns how many write system calls (write, writev, sendmsg…)
// the process has made: per delivery, it shows how well a server batches.
func Writes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, err
	}
	return ParseIOWrites(b)
}

// ParseIOWrites reads syscw from the content of /proc/<pid>/io.
func ParseIOWrites(b []byte) (int64, error) {
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("syscw:")); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(rest)), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("io: %w", err)
			}
			return n, nil
		}
	}
	return 0, errors.New("io: no syscw line")
}
