// EventSink: where dispatched events go. The broker in production (plugin/broker_sink.h); a
// fault-injecting sink in tests. Each sink is one delivery *target* with its own progress in every
// outbox entry, so a target that fails never causes another target to receive an event twice.
#pragma once

#include <string>

#include "outbox/event.h"
#include "storage/status.h"

namespace mqdb {

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Stable name of the target; it keys the target's progress in stored outbox entries.
  virtual const std::string& target() const = 0;
  // Delivers one event. A non-ok Status means "not delivered": it will be retried from this event.
  virtual Status Publish(const std::string& topic, const std::string& payload, const std::string& origin_client_id) = 0;
  // The outbox delivers through this one: a target that needs more of the event than its topic and
  // payload (a live query: the sequence, the record before an update) overrides it.
  virtual Status PublishEvent(const Event& event, const std::string& origin_client_id) {
    return Publish(event.topic, event.payload, origin_client_id);
  }
};

}  // namespace mqdb
