/*
 * The durable change feed of mosquitto-mqdb (PROTOCOL.md §4), as a guarded-command model for SPIN:
 * a subscriber that can miss messages at a crash and recovers by replay.
 *
 * W writes, one event each (sequence = write number). Every step is one atomic action of the real
 * system; SPIN explores every interleaving of them:
 *   Commit       the write's data and its event land in one RocksDB batch (the feed keeps the event);
 *                the event is handed to the broker, which queues it in memory for the subscriber if it
 *                is connected (and drops it for a subscriber that is not)
 *   Deliver      the broker delivers the oldest queued event to the subscriber
 *   Crash        the broker dies: its in-memory queue is lost, the subscriber is disconnected, any
 *                replay in progress stops; the database stays
 *   Reconnect    the recipe: the subscriber subscribes first (live events reach it from now on), then
 *                replays from its resume point
 *   ReplayStep   the replay hands over the next retained event (a page is many steps)
 *   ReplayDone   the replay reached the newest committed event ("complete")
 * The subscriber's resume point is `last`: every event before it has been seen. Bounds: W writes, at
 * most MAXC crashes.
 *
 * Invariant (checked by the monitor whenever the system is quiescent: every write committed, the
 * subscriber connected, nothing queued, no replay running):
 *   EveryCommittedEventIsSeen    the subscriber has seen the event of every committed write
 *
 * Variants (spin -D...):
 *   (none)            the design as built
 *   WITNESS           the design plus a claim SPIN must refute: that no quiescent history had a crash
 *                     that lost a queued event (vacuity check: replay really is what recovers it)
 *   NO_RETENTION      the feed is not kept: an event is deleted once handed to the broker (what
 *                     "delivered" meant before the feed). SPIN must find a counterexample.
 *   RESUME_FROM_MAX   the subscriber resumes after the highest sequence it has seen (a live event that
 *                     overtook an interrupted replay) instead of its contiguous prefix. SPIN must find a
 *                     counterexample: the recipe's resume point matters.
 */

#ifndef W
#define W 3
#endif
#ifndef MAXC
#define MAXC 2
#endif

/* On disk (survives crashes) */
bit data[W];
bit feed[W];
byte next_write;             /* writes committed so far */
/* The broker's memory (lost on crash) */
chan queue = [W] of { byte };
/* The subscriber (its own process: survives the broker's crashes) */
bit connected = 1;
bit replaying;
byte pos;                    /* the replay's next sequence */
bit seen[W];
byte last;                   /* resume point: every event < last has been seen */
byte highest;                /* 1 + the highest sequence seen */
/* Bookkeeping */
byte crashes;
bit lost;                    /* a crash dropped a queued event, or a commit found nobody connected */

#define ALL_SEEN (seen[0] && seen[1] && seen[2])
#define QUIESCENT (next_write == W && connected && !replaying && len(queue) == 0)

/* Monitors wait at an end label: a history that never violates the invariant ends with them blocked. */
active proctype every_committed_event_is_seen() {
end: atomic { QUIESCENT && !ALL_SEEN -> assert(ALL_SEEN) }
}

#ifdef WITNESS
active proctype witness() {
end: atomic { QUIESCENT && lost && ALL_SEEN -> assert(!(QUIESCENT && lost && ALL_SEEN)) }
}
#endif

/* The subscriber saw event s: advance the resume point over the contiguous prefix. */
inline see(s) {
  seen[s] = 1;
  if
  :: s + 1 > highest -> highest = s + 1
  :: else -> skip
  fi;
  do
  :: last < W && seen[last] -> last++
  :: else -> break
  od
}

active proctype system() {
  byte w;
end:
  do
  /* Commit: data and event in one batch; the broker queues it for a connected subscriber */
  :: atomic { next_write < W ->
       data[next_write] = 1; feed[next_write] = 1;
       if
       :: connected -> queue!next_write
       :: else -> lost = 1
       fi;
#ifdef NO_RETENTION
       feed[next_write] = 0;  /* deleted once handed over */
#endif
       next_write++ }
  /* Deliver */
  :: atomic { connected && len(queue) > 0 -> queue?w; see(w) }
  /* Crash: the queue dies with the broker; the subscriber is cut off */
  :: atomic { crashes < MAXC ->
       crashes++;
       if
       :: len(queue) > 0 -> lost = 1
       :: else -> skip
       fi;
       do
       :: len(queue) > 0 -> queue?w
       :: else -> break
       od;
       connected = 0; replaying = 0 }
  /* Reconnect: subscribe first, then replay from the resume point */
  :: atomic { !connected ->
       connected = 1; replaying = 1;
#ifdef RESUME_FROM_MAX
       pos = highest
#else
       pos = last
#endif
     }
  /* ReplayStep: the next retained event, if the feed still has it */
  :: atomic { replaying && pos < next_write ->
       if
       :: feed[pos] -> see(pos)
       :: else -> skip
       fi;
       pos++ }
  /* ReplayDone: complete */
  :: atomic { replaying && pos == next_write -> replaying = 0 }
  od
}
