// Doorbell: wakes the broker's main loop from a background thread (ARCHITECTURE.md §1).
//
// Mosquitto 2.0.11 sleeps in epoll_wait for up to 100 ms and has no wake-up API. A SIGURG sent to the
// broker thread interrupts epoll_wait (mosquitto blocks only INT/TERM/USR1/USR2/HUP there), the loop
// runs, and our TICK callback drains the finished work. The one race (signal lands after TICK drained
// but before epoll_wait starts) is closed by ringing again until TICK acknowledges the work: Ring()
// retries every 0.5 ms for at most 100 ms, i.e. never longer than the broker's own timeout.
// Chosen over a loopback MQTT connection because it needs no listener address, no client slot and no
// extra thread. Measured wake-up cost: see README (durability immediate).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace mqdb {

class Doorbell {
 public:
  // Call on the broker thread (plugin init): remembers it and installs a no-op SIGURG handler.
  void Install();
  // Restores the previous SIGURG handler. Call after every ringing thread stopped.
  void Uninstall();
  // Background thread: wake the broker until Acknowledge(>= work) is seen.
  void Ring(uint64_t work);
  // Broker thread (TICK): everything up to `work` has been handled.
  void Acknowledge(uint64_t work);
  // Makes Ring() return at once from now on (shutdown).
  void Stop();

 private:
  pthread_t broker_thread_{};
  struct sigaction previous_{};
  bool installed_ = false;
  std::atomic<uint64_t> acked_{0};
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace mqdb
