package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/cardwatch/cardwatch/rules"
)

// benchRulesLoad is the rules-file mode of the load command: it writes a rules file of
// the given number of cardholders, then loads it as serve does on start and on every
// reload, and reports how long that took and the memory it needed. The profiles
// startProfiles starts cover the load alone.
func benchRulesLoad(stdout, stderr io.Writer, holders int, jsonOut string, startProfiles func() (stop func(), err error)) int {
	fail := func(err error) int { fmt.Fprintf(stderr, "cardwatch bench: %v\n", err); return 1 }
	dir, err := os.MkdirTemp("", "cardwatch-bench-rules-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "rules.yaml")
	if err := writeBenchRules(path, holders); err != nil {
		return fail(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintf(stdout, "loading a rules file of %d cardholders (%.0f MiB)\n", holders, float64(st.Size())/(1<<20))
	runtime.GC()
	stopProfiles, err := startProfiles()
	if err != nil {
		return fail(err)
	}
	cpu0 := cpuSeconds()
	start := time.Now()
	book, err := rules.Load(path)
	took := time.Since(start)
	stopProfiles()
	if err != nil {
		return fail(err)
	}
	res := benchResult{Cardholders: book.Len(), LoadSeconds: took.Seconds(),
		CPUPer1k: (cpuSeconds() - cpu0) / float64(holders) * 1000, PeakRSSMiB: peakRSSMiB()}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.HeapMiB = float64(ms.HeapInuse) / (1 << 20)
	runtime.KeepAlive(book)

	fmt.Fprintf(stdout, "\n%-38s %10d\n", "cardholders loaded", res.Cardholders)
	fmt.Fprintf(stdout, "%-38s %10.2f\n", "load time, s", res.LoadSeconds)
	fmt.Fprintf(stdout, "%-38s %10.0f\n", "heap held by the loaded rules, MiB", res.HeapMiB)
	fmt.Fprintf(stdout, "%-38s %10.0f\n", "peak RSS, MiB (process)", res.PeakRSSMiB)
	if err := writeBenchJSON(jsonOut, res); err != nil {
		return fail(err)
	}
	return 0
}
