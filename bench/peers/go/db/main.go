// Command db is the Go peer of steward's bench/bench_db.c: the same Db and
// Account loads on Go's own ways of sharing a map and a balance, for the
// same duration and number of runs, printing results under the same names
// so bench/run.sh can set them side by side.
//
// Usage: db [duration_ms [runs]]   (defaults: 500 ms, 3 runs)
//
// Every measurement runs for duration_ms (the 64-client points for half of
// it), runs times; the best run counts. GOMAXPROCS is left at its default
// (all CPUs). Results ("name value" lines):
//
//	db.cpus                       GOMAXPROCS
//	db.go_pattern_ops.N           N goroutines, 50/50 Store/Fetch of random
//	                              keys out of nKeys preloaded ones, on one
//	                              goroutine owning a map[string]string, each
//	                              request with its own reply channel; Store
//	                              waits for an ack, as steward's does
//	db.go_pattern_noack_ops.N     the same, but Store does not wait: the
//	                              classic form
//	db.go_mutex_ops.N             the same load on a map under a sync.Mutex
//	acct.go_pattern_ops.N         N goroutines, deposit/withdraw/balance at
//	                              random, 1:1:1, on one goroutine owning a
//	                              balance, requests over channels with
//	                              per-request reply channels
//
// Clients draw their ops from their own xorshift64, as bench_db.c's do,
// check what they fetch, and the Account's final balance is checked against
// the clients' own sums.
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
	nKeys          = 100000 // keys in each Db, all preloaded
	stopEvery      = 64     // ops between two looks at the stop flag
	maxClients     = 64     // the clients of the shortened points
	openingBalance = int64(1000000000000)
)

var (
	dbClients   = []int{1, 2, 8, 64}
	acctClients = []int{1, 8}
)

// Key i is "key:" and i in 12 digits; its value is "val:" and the same. A
// Store always writes a key's own value, so every Fetch can be checked.
var keys, vals [nKeys]string

func makeKeys() {
	for i := range keys {
		keys[i] = fmt.Sprintf("key:%012d", i)
		vals[i] = fmt.Sprintf("val:%012d", i)
	}
}

func die(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "db: "+format+"\n", args...)
	os.Exit(1)
}

func xorshift64(x uint64) uint64 {
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	return x
}

// keyOf is the key an op works on: from the high half of r, as in
// bench_db.c (the low bit says whether a Db op stores).
func keyOf(r uint64) int {
	return int(((r >> 32) * nKeys) >> 32)
}

// ---- the Db: the two Go ways ----

type kv interface {
	Store(key, val string)
	Fetch(key string) (string, bool)
}

// patternDb is the Go pattern: one goroutine owns the map; clients send it
// requests on one unbuffered channel, each request with a reply channel of
// its own (the canonical form: make(chan T) per request).
type patternDb struct {
	reqs chan dbReq
	ack  bool // Store waits for the owner's ack
}

type dbReq struct {
	store    bool
	key, val string
	reply    chan dbReply // nil: a Store nobody waits for
}

type dbReply struct {
	val string
	ok  bool
}

func newPatternDb(ack bool) *patternDb {
	m := make(map[string]string, nKeys)
	for i := range keys {
		m[keys[i]] = vals[i]
	}
	d := &patternDb{reqs: make(chan dbReq), ack: ack}
	go func() {
		for r := range d.reqs {
			if r.store {
				m[r.key] = r.val
				if r.reply != nil {
					r.reply <- dbReply{}
				}
				continue
			}
			v, ok := m[r.key]
			r.reply <- dbReply{v, ok}
		}
	}()
	return d
}

func (d *patternDb) Store(key, val string) {
	if !d.ack {
		d.reqs <- dbReq{store: true, key: key, val: val}
		return
	}
	reply := make(chan dbReply)
	d.reqs <- dbReq{store: true, key: key, val: val, reply: reply}
	<-reply
}

func (d *patternDb) Fetch(key string) (string, bool) {
	reply := make(chan dbReply)
	d.reqs <- dbReq{key: key, reply: reply}
	r := <-reply
	return r.val, r.ok
}

func (d *patternDb) Close() { close(d.reqs) }

type mutexDb struct {
	mu sync.Mutex
	m  map[string]string
}

func newMutexDb() *mutexDb {
	d := &mutexDb{m: make(map[string]string, nKeys)}
	for i := range keys {
		d.m[keys[i]] = vals[i]
	}
	return d
}

func (d *mutexDb) Store(key, val string) {
	d.mu.Lock()
	d.m[key] = val
	d.mu.Unlock()
}

func (d *mutexDb) Fetch(key string) (string, bool) {
	d.mu.Lock()
	v, ok := d.m[key]
	d.mu.Unlock()
	return v, ok
}

func dbOp(d kv) func(r uint64, net *int64) {
	return func(r uint64, _ *int64) {
		k := keyOf(r)
		if r&1 != 0 {
			d.Store(keys[k], vals[k])
			return
		}
		if v, ok := d.Fetch(keys[k]); !ok || v != vals[k] {
			die("fetch %q: got %q, %v", keys[k], v, ok)
		}
	}
}

// ---- the Account: the Go pattern ----

type account struct {
	deposits    chan moneyReq
	withdrawals chan moneyReq
	balances    chan chan int64
	quit        chan struct{}
}

type moneyReq struct {
	amount int64
	reply  chan bool // deposit: always true; withdraw: false for lack of funds
}

func newAccount(balance int64) *account {
	a := &account{make(chan moneyReq), make(chan moneyReq), make(chan chan int64),
		make(chan struct{})}
	go func() {
		for {
			select {
			case r := <-a.deposits:
				balance += r.amount
				r.reply <- true
			case r := <-a.withdrawals:
				ok := balance >= r.amount
				if ok {
					balance -= r.amount
				}
				r.reply <- ok
			case r := <-a.balances:
				r <- balance
			case <-a.quit:
				return
			}
		}
	}()
	return a
}

func (a *account) Deposit(amount int64) {
	reply := make(chan bool)
	a.deposits <- moneyReq{amount, reply}
	<-reply
}

func (a *account) Withdraw(amount int64) bool {
	reply := make(chan bool)
	a.withdrawals <- moneyReq{amount, reply}
	return <-reply
}

func (a *account) Balance() int64 {
	reply := make(chan int64)
	a.balances <- reply
	return <-reply
}

func accountOp(a *account) func(r uint64, net *int64) {
	return func(r uint64, net *int64) {
		switch (r >> 32) % 3 {
		case 0:
			a.Deposit(1)
			*net++
		case 1:
			if a.Withdraw(1) {
				*net--
			}
		default:
			if a.Balance() < 0 {
				die("negative balance")
			}
		}
	}
}

// ---- clients: N goroutines running an op until stop ----

// loadRate runs n clients of op for d and returns ops/s over the whole span
// (the main goroutine sleeps, raises stop and waits for the clients), as
// bench_db.c counts; it adds the clients' net to *net.
func loadRate(n int, op func(uint64, *int64), d time.Duration, net *int64) float64 {
	var stop atomic.Bool
	var ops, sum atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(s uint64) {
			defer wg.Done()
			var i, mine int64
			for ; ; i++ {
				if i%stopEvery == 0 && stop.Load() {
					break
				}
				s = xorshift64(s)
				op(s, &mine)
			}
			ops.Add(i)
			sum.Add(mine)
		}(0x9e3779b97f4a7c15 * uint64(i+1))
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	elapsed := time.Since(start)
	*net += sum.Load()
	return float64(ops.Load()) * 1e9 / float64(elapsed.Nanoseconds())
}

// reportRate prints the best of runs loadRate as "name.n value".
func reportRate(name string, n int, op func(uint64, *int64), d time.Duration, runs int64,
	net *int64) {
	if n == maxClients {
		d /= 2 // the slowest points to run: keep the section short
	}
	best := peer.Best(runs, false, func() float64 { return loadRate(n, op, d, net) })
	fmt.Printf("%s.%d %.1f\n", name, n, best)
}

func main() {
	d, runs := peer.Args("db")
	makeKeys()
	fmt.Printf("db.cpus %d\n", runtime.GOMAXPROCS(0))

	pattern, noack, mutex := newPatternDb(true), newPatternDb(false), newMutexDb()
	var net int64
	for _, n := range dbClients {
		reportRate("db.go_pattern_ops", n, dbOp(pattern), d, runs, &net)
		reportRate("db.go_pattern_noack_ops", n, dbOp(noack), d, runs, &net)
		reportRate("db.go_mutex_ops", n, dbOp(mutex), d, runs, &net)
	}
	pattern.Close()
	noack.Close()

	a := newAccount(openingBalance)
	net = 0
	for _, n := range acctClients {
		reportRate("acct.go_pattern_ops", n, accountOp(a), d, runs, &net)
	}
	if b := a.Balance(); b != openingBalance+net {
		die("money not conserved: balance %d, want %d", b, openingBalance+net)
	}
	close(a.quit)
}
