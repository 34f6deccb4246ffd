// Command chan is the Go peer of steward's bench/bench_chan.c: the same
// loads on Go channels, for the same duration and number of runs, printing
// results under the same names so bench/run.sh can set them side by side.
//
// Usage: chan [duration_ms [runs]]   (defaults: 500 ms, 3 runs)
//
// Every measurement runs for duration_ms, runs times; the best run counts.
// GOMAXPROCS is left at its default (all CPUs). The cache-line floor
// (chan.floor_ns) is measured only on the C side.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"steward/bench/peers/go/peer"
)

const (
	bufCap    = 1024 // the buffered channels' capacity
	batch     = 1024 // round trips between two reads of the clock
	stopEvery = 64   // sends between two looks at the stop flag
)

// pingpongNs: unbuffered ping-pong; the far side answers v with v+1 until a
// negative ping. Returns ns per round trip.
func pingpongNs(d time.Duration) float64 {
	ping, pong := make(chan int64), make(chan int64)
	done := make(chan struct{})
	go func() {
		for v := range ping {
			if v < 0 {
				close(done)
				return
			}
			pong <- v + 1
		}
	}()
	var rounds int64
	start := time.Now()
	var elapsed time.Duration
	for elapsed < d {
		for i := 0; i < batch; i, rounds = i+1, rounds+1 {
			ping <- rounds
			if v := <-pong; v != rounds+1 {
				fmt.Fprintf(os.Stderr, "chan: pong %d, want %d\n", v, rounds+1)
				os.Exit(1)
			}
		}
		elapsed = time.Since(start)
	}
	ping <- -1
	<-done
	return float64(elapsed.Nanoseconds()) / float64(rounds)
}

// load: producers send on their channel until stop; the main goroutine
// sleeps for the duration, raises stop, waits for the producers and closes
// the channels; the consumer drains them. The rate is everything received
// over the whole span, as in bench_chan.c.
func loadRate(nchan, nproducers int, consume func([]chan int64) int64, d time.Duration) float64 {
	chans := make([]chan int64, nchan)
	for c := range chans {
		chans[c] = make(chan int64, bufCap)
	}
	var stop atomic.Bool
	var producers sync.WaitGroup
	received := make(chan int64)

	start := time.Now()
	go func() { received <- consume(chans) }()
	for i := 0; i < nproducers; i++ {
		producers.Add(1)
		go func(ch chan int64) {
			defer producers.Done()
			for i := int64(0); ; i++ {
				if i%stopEvery == 0 && stop.Load() {
					return
				}
				ch <- i
			}
		}(chans[i%nchan])
	}
	time.Sleep(d)
	stop.Store(true)
	producers.Wait()
	for _, ch := range chans {
		close(ch)
	}
	n := <-received
	elapsed := time.Since(start)
	return float64(n) * 1e9 / float64(elapsed.Nanoseconds())
}

func consumeOne(chans []chan int64) int64 {
	var n int64
	for range chans[0] {
		n++
	}
	return n
}

// consumeSelect selects over both channels; a closed one becomes nil, never
// ready, as steward's select treats a NULL case.
func consumeSelect(chans []chan int64) int64 {
	var n int64
	a, b := chans[0], chans[1]
	for a != nil || b != nil {
		select {
		case _, ok := <-a:
			if !ok {
				a = nil
				continue
			}
			n++
		case _, ok := <-b:
			if !ok {
				b = nil
				continue
			}
			n++
		}
	}
	return n
}

func main() {
	d, runs := peer.Args("chan")
	benches := []peer.Bench{
		{"chan.pingpong_ns", pingpongNs, true},
		{"chan.buf1_msgs", func(d time.Duration) float64 { return loadRate(1, 1, consumeOne, d) }, false},
		{"chan.buf4_msgs", func(d time.Duration) float64 { return loadRate(1, 4, consumeOne, d) }, false},
		{"chan.select2_ops", func(d time.Duration) float64 { return loadRate(2, 2, consumeSelect, d) }, false},
	}
	fmt.Printf("chan.cpus %d\n", runtime.GOMAXPROCS(0))
	peer.RunAll(benches, d, runs)
}
