#include "plugin/doorbell.h"

#include <chrono>

namespace mqdb {

namespace {
void NoOp(int) {}
}  // namespace

void Doorbell::Install() {
  broker_thread_ = pthread_self();
  struct sigaction sa {};
  sa.sa_handler = NoOp;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // other syscalls resume; epoll_wait returns EINTR regardless
  installed_ = sigaction(SIGURG, &sa, &previous_) == 0;
}

void Doorbell::Uninstall() {
  if (installed_) sigaction(SIGURG, &previous_, nullptr);
  installed_ = false;
}

void Doorbell::Ring(uint64_t work) {
  for (int i = 0; i < 200 && !stop_.load(); ++i) {
    if (acked_.load() >= work) return;
    pthread_kill(broker_thread_, SIGURG);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::microseconds(500), [&] { return acked_.load() >= work || stop_.load(); });
  }
}

void Doorbell::Acknowledge(uint64_t work) {
  uint64_t prev = acked_.load();
  while (prev < work && !acked_.compare_exchange_weak(prev, work)) {}
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

void Doorbell::Stop() {
  stop_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  cv_.notify_all();
}

}  // namespace mqdb
