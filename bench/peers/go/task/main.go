// Command task is the Go peer of steward's bench/bench_task.c: the same
// loads on goroutines, for the same duration and number of runs, printing
// results under the same names so bench/run.sh can set them side by side.
// bench/run.sh runs it twice, with GOMAXPROCS=1 and GOMAXPROCS=2.
//
// Usage: task [duration_ms [runs]]   (defaults: 500 ms, 3 runs)
//
// Every timed measurement runs for duration_ms, runs times; the best run
// counts. The parked-memory measurement runs once, first, in a fresh
// process: the runtime keeps finished goroutines (and their stacks) for
// reuse, so a second run would measure that cache, not new goroutines.
// Every measurement is driven from a goroutine (the main one), as
// bench_task.c drives its own from a task. Results ("name value" lines):
//
//	task.cpus           runtime.NumCPU()
//	task.threads        GOMAXPROCS: the threads that run goroutines at once
//	task.parked_tasks   goroutines parked for task.parked_bytes (100000)
//	task.parked_bytes   resident memory (VmRSS, from /proc/self/statm) per
//	                    goroutine parked on a channel receive
//	task.pingpong_ns    two goroutines ping-ponging over two unbuffered
//	                    channels, ns per round trip
//	task.spawn_ns       starting a goroutine that runs and finishes: batches
//	                    of 1024 started from one goroutine, then a WaitGroup
//	                    wait; total time / goroutines
//	task.select_ns      a server goroutine selecting over two unbuffered
//	                    channels, a client sending on each in turn and
//	                    waiting for the answer on a third: ns per round trip
//	task.select2_ops    one goroutine selecting over two channels (capacity
//	                    1024), each fed by its own goroutine: receives/s
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"steward/bench/peers/go/peer"
)

const (
	parkedTasks = 100000 // goroutines parked for task.parked_bytes
	parkSettle  = 20 * time.Millisecond
	spawnBatch  = 1024 // goroutines started between two waits
	batch       = 1024 // round trips between two reads of the clock
	bufCap      = 1024 // the select2 load's channel capacity
	stopEvery   = 64   // sends between two looks at the stop flag
)

func die(format string, a ...interface{}) {
	fmt.Fprintf(os.Stderr, "task: "+format+"\n", a...)
	os.Exit(1)
}

// rssBytes is the resident set size from /proc/self/statm (its second
// field, in pages), as bench_task.c reads it.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		die("%v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		die("/proc/self/statm: %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		die("/proc/self/statm: %v", err)
	}
	return pages * int64(os.Getpagesize())
}

// parkedBytes parks parkedTasks goroutines on one channel's receive and
// returns the growth of the resident set per goroutine; then closes the
// channel, which wakes them all, and waits until they have finished. Each
// goroutine counts itself started just before its receive, and the
// reading waits parkSettle more for the last ones to park.
func parkedBytes() float64 {
	ch := make(chan int64)
	var started, done sync.WaitGroup
	runtime.GC()
	before := rssBytes()
	started.Add(parkedTasks)
	done.Add(parkedTasks)
	for i := 0; i < parkedTasks; i++ {
		go func() {
			started.Done()
			<-ch
			done.Done()
		}()
	}
	started.Wait()
	time.Sleep(parkSettle)
	after := rssBytes()
	close(ch)
	done.Wait()
	return float64(after-before) / parkedTasks
}

// pingpongNs: a driver goroutine starts the far side, which answers v with
// v+1 until a negative ping; ns per round trip.
func pingpongNs(d time.Duration) float64 {
	ping, pong := make(chan int64), make(chan int64)
	var wg sync.WaitGroup
	var ns float64
	wg.Add(1)
	go func() {
		defer wg.Done()
		var far sync.WaitGroup
		far.Add(1)
		go func() {
			defer far.Done()
			for v := range ping {
				if v < 0 {
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
					die("pong %d, want %d", v, rounds+1)
				}
			}
			elapsed = time.Since(start)
		}
		ping <- -1
		far.Wait()
		ns = float64(elapsed.Nanoseconds()) / float64(rounds)
	}()
	wg.Wait()
	return ns
}

// spawnNs: batches of spawnBatch goroutines that each count themselves
// done, started from this goroutine, each batch waited for; ns per
// goroutine over the whole span.
func spawnNs(d time.Duration) float64 {
	var wg sync.WaitGroup
	var n int64
	start := time.Now()
	var elapsed time.Duration
	for elapsed < d {
		wg.Add(spawnBatch)
		for i := 0; i < spawnBatch; i++ {
			go wg.Done()
		}
		wg.Wait()
		n += spawnBatch
		elapsed = time.Since(start)
	}
	return float64(elapsed.Nanoseconds()) / float64(n)
}

// selectNs: the server answers a value v from channel a with v+1 and from
// b with v+2, on reply, until a negative value; the client sends on a and
// b in turn. ns per round trip.
func selectNs(d time.Duration) float64 {
	a, b, reply := make(chan int64), make(chan int64), make(chan int64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			var v int64
			select {
			case v = <-a:
				v++
			case v = <-b:
				v += 2
			}
			if v < 0 {
				return
			}
			reply <- v
		}
	}()
	var rounds int64
	start := time.Now()
	var elapsed time.Duration
	for elapsed < d {
		for i := 0; i < batch; i, rounds = i+1, rounds+1 {
			ch, want := a, rounds+1
			if rounds%2 == 1 {
				ch, want = b, rounds+2
			}
			ch <- rounds
			if v := <-reply; v != want {
				die("select reply %d, want %d", v, want)
			}
		}
		elapsed = time.Since(start)
	}
	a <- -10 // -10 + 1 < 0: the server stops without replying
	wg.Wait()
	return float64(elapsed.Nanoseconds()) / float64(rounds)
}

// select2Ops: two producers send on their own channel until stop; this
// goroutine sleeps for the duration, raises stop, waits for the producers
// and closes the channels; the consumer selects over both, a closed one
// becoming nil, until both are. The rate is everything received over the
// whole span, as in bench_task.c.
func select2Ops(d time.Duration) float64 {
	chans := [2]chan int64{make(chan int64, bufCap), make(chan int64, bufCap)}
	var stop atomic.Bool
	var producers sync.WaitGroup
	received := make(chan int64)

	start := time.Now()
	go func() {
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
		received <- n
	}()
	for _, ch := range chans {
		producers.Add(1)
		go func(ch chan int64) {
			defer producers.Done()
			for i := int64(0); ; i++ {
				if i%stopEvery == 0 && stop.Load() {
					return
				}
				ch <- i
			}
		}(ch)
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

func main() {
	d, runs := peer.Args("task")
	fmt.Printf("task.cpus %d\n", runtime.NumCPU())
	fmt.Printf("task.threads %d\n", runtime.GOMAXPROCS(0))
	fmt.Printf("task.parked_tasks %d\n", parkedTasks)
	fmt.Printf("task.parked_bytes %.1f\n", parkedBytes())
	benches := []peer.Bench{
		{"task.pingpong_ns", pingpongNs, true},
		{"task.spawn_ns", spawnNs, true},
		{"task.select_ns", selectNs, true},
		{"task.select2_ops", select2Ops, false},
	}
	peer.RunAll(benches, d, runs)
}
