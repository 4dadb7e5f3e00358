package proc

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	// A command name with a space and a parenthesis; utime 1234, stime 66.
	stat := "4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 9051 0 0 0 1234 66 0 0 20 0 9 0 1523 1270263808 11542 18446744073709551615 1 1 0 0 0 0 0 0 2143420159 0 0 0 17 1 0 0 0 0 0\n"
	got, err := ParseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 13 * time.Second; got != want {
		t.Fatalf("CPU = %v, want %v (1300 ticks at 100 Hz)", got, want)
	}
	if _, err := ParseStatCPU([]byte("12 (x) S 1 2")); err == nil {
		t.Fatal("a short stat line parsed")
	}
	if _, err := ParseStatCPU([]byte("no name here")); err == nil {
		t.Fatal("a stat line without a name parsed")
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := "Name:\tcentrifugo\nVmPeak:\t 2000000 kB\nVmRSS:\t  123456 kB\nRssAnon:\t  100000 kB\n"
	got, err := ParseStatusRSS([]byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(123456 * 1024); got != want {
		t.Fatalf("RSS = %d, want %d", got, want)
	}
	if _, err := ParseStatusRSS([]byte("Name:\tx\n")); err == nil {
		t.Fatal("a status without VmRSS parsed")
	}
	if _, err := ParseStatusRSS([]byte("VmRSS:\t12 MB\n")); err == nil {
		t.Fatal("a VmRSS in another unit parsed")
	}
}

// The live files of this very process parse, and its CPU time grows.
func TestSelf(t *testing.T) {
	pid := os.Getpid()
	rss, err := RSS(pid)
	if err != nil || rss <= 0 {
		t.Fatalf("RSS(self) = %d, %v", rss, err)
	}
	before, err := CPU(pid)
	if err != nil {
		t.Fatal(err)
	}
	// Burn CPU until the 10 ms clock ticks over (polling, not timing).
	x := 0
	for i := 0; ; i++ {
		for j := 0; j < 1_000_000; j++ {
			x += j ^ i
		}
		now, err := CPU(pid)
		if err != nil {
			t.Fatal(err)
		}
		if now > before {
			break
		}
	}
	_ = x
}

func TestParseMachineBusy(t *testing.T) {
	stat := "cpu  1000 20 300 50000 70 0 10 5 0 0\ncpu0 500 10 150 25000 35 0 5 2 0 0\nintr 1 2 3\n"
	got, err := ParseMachineBusy([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	// user + nice + system + irq + softirq = 1330 ticks.
	if want := 13300 * time.Millisecond; got != want {
		t.Fatalf("busy = %v, want %v", got, want)
	}
	if _, err := ParseMachineBusy([]byte("cpu0 1 2 3\n")); err == nil {
		t.Fatal("a stat without the total line parsed")
	}
	if _, err := Machine(); err != nil {
		t.Fatal(err)
	}
}

func TestParseIOWrites(t *testing.T) {
	io := "rchar: 100\nwchar: 200\nsyscr: 3\nsyscw: 4567\nread_bytes: 0\n"
	if n, err := ParseIOWrites([]byte(io)); err != nil || n != 4567 {
		t.Fatalf("syscw = %d, %v", n, err)
	}
	if _, err := ParseIOWrites([]byte("rchar: 1\n")); err == nil {
		t.Fatal("io without syscw parsed")
	}
	before, err := Writes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(t.TempDir(), "w")
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("x"))
	f.Close()
	if after, _ := Writes(os.Getpid()); after <= before {
		t.Fatalf("a write left syscw at %d (was %d)", after, before)
	}
}
