/*
 * Outbox delivery of mosquitto-mqdb (ARCHITECTURE.md §4), as a guarded-command model for SPIN.
 *
 * W writes, each with N events, one delivery target. Every step is one atomic action of the real
 * system; SPIN explores every interleaving of them:
 *   Commit          a write's data and its outbox entry (progress 0) land in one RocksDB batch
 *   StartDispatch   the broker thread takes the oldest undelivered entry, resuming at its progress
 *   DispatchOk      one event is handed to the target (delivery counted)
 *   DispatchFail    the target refuses one event: the progress so far is persisted with the retry
 *                   schedule in one write, and dispatch stops (retried later by StartDispatch)
 *   Finish          all events of the entry went out
 *   Delete          a later batch deletes a delivered entry
 *   Crash           the process dies: everything in memory is lost, the database stays
 * Bounds: W writes, N events each, at most MAXF failures and MAXC crashes in one run of the model.
 *
 * Invariants (checked in every reachable state by the monitor process):
 *   NoDoubleDelivery              within one running broker (between crashes) no event is
 *                                 delivered twice to the target
 *   DataImpliesOutboxOrDelivered  committed data always has its outbox entry, unless every one of
 *                                 its events has been delivered
 *
 * Variants (spin -D...):
 *   WITNESS              the design plus a claim SPIN must refute: that no history has a failure after
 *                        partial progress, a crash, and still every event delivered (vacuity check)
 *   (none)               the design as built
 *   RESET_TO_ZERO        MQDB before its fix: a failure keeps no progress and a retry starts again at
 *                        event 0. SPIN must find a NoDoubleDelivery counterexample.
 *   NON_ATOMIC_COMMIT    data and outbox entry written by two separate writes. SPIN must find a
 *                        DataImpliesOutboxOrDelivered counterexample.
 */

#ifndef W
#define W 2
#endif
#ifndef N
#define N 3
#endif
#ifndef MAXF
#define MAXF 3
#endif
#ifndef MAXC
#define MAXC 2
#endif

/* On disk (survives crashes) */
bit data[W];                 /* the write's records are committed */
bit outbox[W];               /* its outbox entry exists */
byte progress[W];            /* persisted dispatched count of the entry */
/* In memory (lost on crash) */
byte mem_progress[W];        /* dispatched count as the running broker knows it */
bit mem_done[W];             /* fully delivered in this run */
bit dispatching;
byte cur;                    /* entry being dispatched */
byte idx;                    /* next event of cur */
/* Observation */
byte run_count[W * N];       /* deliveries of each event in the current run */
bit ever[W * N];             /* delivered at least once, ever */
/* Bounds and bookkeeping */
byte next_write;
byte failures;
byte crashes;
#ifdef NON_ATOMIC_COMMIT
bit half_written;            /* data committed, outbox write not yet done */
#endif

/* All N events of write w were delivered at least once. */
#define ALL_DELIVERED(w) (ever[(w) * N] && ever[(w) * N + 1] && ever[(w) * N + 2])
#define DATA_OK(w) (!data[w] || outbox[w] || ALL_DELIVERED(w))
#define NO_DOUBLE (run_count[0] <= 1 && run_count[1] <= 1 && run_count[2] <= 1 && \
                   run_count[3] <= 1 && run_count[4] <= 1 && run_count[5] <= 1)
#define DATA_IMPLIES_OUTBOX_OR_DELIVERED (DATA_OK(0) && DATA_OK(1))

/* Each monitor fires in any reachable state where its invariant is false. */
active proctype no_double_delivery() {
  atomic { !NO_DOUBLE -> assert(NO_DOUBLE) }
}
active proctype data_implies_outbox_or_delivered() {
  atomic { !DATA_IMPLIES_OUTBOX_OR_DELIVERED -> assert(DATA_IMPLIES_OUTBOX_OR_DELIVERED) }
}

#ifdef WITNESS
/* Vacuity check: the interesting histories exist. Claims that no state has both entries fully
 * delivered after at least one failure and one crash; SPIN must refute it (a witness trace). */
#define INTERESTING (failures > 0 && crashes > 0 && progress[0] > 0 && ALL_DELIVERED(0) && ALL_DELIVERED(1))
active proctype witness() {
  atomic { INTERESTING -> assert(!INTERESTING) }
}
#endif

active proctype broker() {
  byte w;
  do
  /* Commit */
#ifndef NON_ATOMIC_COMMIT
  :: atomic { next_write < W ->
       data[next_write] = 1; outbox[next_write] = 1; progress[next_write] = 0;
       mem_progress[next_write] = 0; next_write++ }
#else
  :: atomic { next_write < W && !half_written ->
       data[next_write] = 1; half_written = 1 }
  :: atomic { half_written ->
       outbox[next_write] = 1; progress[next_write] = 0; mem_progress[next_write] = 0;
       half_written = 0; next_write++ }
#endif
  /* StartDispatch: the oldest entry that is not yet delivered in this run */
  :: atomic { !dispatching ->
       w = 0;
       do
       :: w < W && !(outbox[w] && !mem_done[w]) -> w++
       :: else -> break
       od;
       if
       :: w < W ->
          cur = w; dispatching = 1;
#ifdef RESET_TO_ZERO
          idx = 0
#else
          idx = mem_progress[w]
#endif
       :: else -> skip
       fi }
  /* DispatchOk */
  :: atomic { dispatching && idx < N ->
       run_count[cur * N + idx]++; ever[cur * N + idx] = 1;
       idx++; mem_progress[cur] = idx }
  /* DispatchFail: persist progress together with the retry schedule, stop */
  :: atomic { dispatching && idx < N && failures < MAXF ->
       failures++;
#ifndef RESET_TO_ZERO
       progress[cur] = mem_progress[cur];
#endif
       dispatching = 0 }
  /* Finish */
  :: atomic { dispatching && idx == N -> mem_done[cur] = 1; dispatching = 0 }
  /* Delete: a later batch removes a delivered entry */
  :: atomic { mem_done[0] && outbox[0] -> outbox[0] = 0 }
  :: atomic { mem_done[1] && outbox[1] -> outbox[1] = 0 }
  /* Crash: memory is lost; a restart reloads entries and their persisted progress */
  :: atomic { crashes < MAXC ->
       crashes++; dispatching = 0;
#ifdef NON_ATOMIC_COMMIT
       if
       :: half_written -> half_written = 0; next_write++  /* the write died half done */
       :: else -> skip
       fi;
#endif
       w = 0;
       do
       :: w < W -> mem_progress[w] = progress[w]; mem_done[w] = 0; w++
       :: else -> break
       od;
       w = 0;
       do
       :: w < W * N -> run_count[w] = 0; w++
       :: else -> break
       od }
  od
}
