// A fault-injecting EventSink: records what it delivered and fails on demand.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "outbox/event_sink.h"

namespace mqdb::test {

class FaultSink : public EventSink {
 public:
  explicit FaultSink(std::string target = "broker") : target_(std::move(target)) {}
  const std::string& target() const override { return target_; }
  Status Publish(const std::string& topic, const std::string& payload, const std::string& origin) override {
    ++attempts;
    if (fail_when && fail_when(attempts)) return Status::Unavailable("injected failure");
    delivered.push_back({topic, payload, origin});
    return Status::Ok();
  }
  struct Delivery {
    std::string topic, payload, origin;
  };
  std::vector<Delivery> delivered;
  int attempts = 0;
  std::function<bool(int attempt)> fail_when;  // attempt numbers start at 1

 private:
  std::string target_;
};

}  // namespace mqdb::test
