/* A Promela model of sw__lock, the futex mutex of src/base/sync.h and
 * sync.c that each channel's lock is. verify/chan.pml treats that lock as a
 * plain mutex; this model checks that the futex protocol is one: NT threads
 * take and release it NR times each, never two inside at once, and none is
 * left asleep in futex_wait once the others are done (a lost wake-up is an
 * invalid end state).
 *
 * LOCK_BUG=1 in pan's environment breaks it the classic way: the slow path
 * exchanges 1 instead of 2, so a release cannot know that someone sleeps.
 */

#define NT 3 /* threads */
#define NR 2 /* times each takes the lock */

byte word;     /* l->word: 0 free, 1 held, 2 held and someone may sleep */
byte sleepers; /* the threads asleep in futex_wait on word, a bit each */
byte inside;   /* ghost: threads holding the lock */
byte bug;      /* LOCK_BUG */

/* futex_wait(&word, val): sleeps only if word == val, checked atomically
 * with going to sleep, until a futex_wake picks this thread. */
inline futex_wait(val)
{
    atomic {
        if
        :: word == val -> sleepers = sleepers | (1 << me); (sleepers & (1 << me)) == 0
        :: else -> skip
        fi
    }
}

/* futex_wake(&word, 1): wakes one sleeper, any one, if there is one. */
inline futex_wake_one()
{
    atomic {
        if
        :: sleepers == 0 -> skip
        :: else ->
            k = 0;
            do
            :: (sleepers >> k) & 1 -> sleepers = sleepers & ~(1 << k); break
            :: ((sleepers >> k) & 1) && (sleepers >> (k + 1)) != 0 -> k++
            :: ((sleepers >> k) & 1) == 0 -> k++
            od;
            k = 0
        fi
    }
}

proctype T(byte me)
{
    byte n, old, k;
    byte mark = 2; /* what the slow path exchanges in */
    if
    :: bug == 1 -> mark = 1
    :: else -> skip
    fi;
    do
    :: n == NR -> break
    :: n < NR ->
        /* sw__lock_acquire: CAS 0 -> 1; when it fails, sw__lock_slow */
        if
        :: atomic { word == 0 -> word = 1 }
        :: atomic { word != 0 -> skip };
            /* up to 200 times: pause, load 0 and CAS_weak 0 -> 1 (any try
             * may fail, and the spin may run out at any point) */
            if
            :: atomic { word == 0 -> word = 1 }
            :: skip ->
                /* while (exchange(word, 2) != 0) futex_wait(word, 2) */
                do
                :: atomic { old = word; word = mark };
                    if
                    :: old == 0 -> break
                    :: else -> futex_wait(mark)
                    fi
                od
            fi
        fi;
        atomic { inside++; assert(inside == 1) };
        atomic { inside-- };
        /* sw__lock_release: exchange 0, and futex_wake when it was 2 */
        atomic { old = word; word = 0 };
        if
        :: old == 2 -> futex_wake_one()
        :: else -> skip
        fi;
        old = 0;
        n++
    od
}

init
{
    c_code {
        char *b = getenv("LOCK_BUG");
        now.bug = b ? atoi(b) : 0;
    };
    atomic {
        run T(0);
        run T(1);
        run T(2)
    }
}
