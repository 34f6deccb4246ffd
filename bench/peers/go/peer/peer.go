// Package peer is what the Go peers of bench/ share: their command line
// (duration_ms, runs) and the best-of-runs driver that prints one
// "name value" line per benchmark, as the C side's bench/common.c does.
package peer

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// A Bench is one measurement: run measures for d and returns its figure.
type Bench struct {
	Name          string
	Run           func(d time.Duration) float64
	LowerIsBetter bool
}

// Args reads the program's two arguments, duration_ms (default 500) and
// runs (default 3); on a bad one it prints the usage of program and exits 2.
func Args(program string) (time.Duration, int64) {
	get := func(i int, dflt int64) int64 {
		if len(os.Args) <= i {
			return dflt
		}
		v, err := strconv.ParseInt(os.Args[i], 10, 64)
		if err != nil || v <= 0 {
			fmt.Fprintf(os.Stderr, "usage: %s [duration_ms [runs]]\n", program)
			os.Exit(2)
		}
		return v
	}
	return time.Duration(get(1, 500)) * time.Millisecond, get(2, 3)
}

// Best runs f runs times and returns the best figure: the lowest when
// lowerIsBetter, else the highest.
func Best(runs int64, lowerIsBetter bool, f func() float64) float64 {
	best := f()
	for r := int64(1); r < runs; r++ {
		if x := f(); (lowerIsBetter && x < best) || (!lowerIsBetter && x > best) {
			best = x
		}
	}
	return best
}

// RunAll prints "name best" for every benchmark, each run runs times for d.
func RunAll(benches []Bench, d time.Duration, runs int64) {
	for _, b := range benches {
		run := b.Run
		fmt.Printf("%s %.1f\n", b.Name, Best(runs, b.LowerIsBetter, func() float64 { return run(d) }))
	}
}
