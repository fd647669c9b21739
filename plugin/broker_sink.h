// BrokerSink: the EventSink that publishes events through the broker (mosquitto_broker_publish).
// Broker thread only: the broker's publish queue is not thread-safe.
#pragma once

#include <string>

#include "outbox/event_sink.h"

namespace mqdb {

class BrokerSink : public EventSink {
 public:
  const std::string& target() const override { return target_; }
  // QoS 1, not retained, user property x-origin-client-id = the requester's client id.
  Status Publish(const std::string& topic, const std::string& payload, const std::string& origin_client_id) override;

 private:
  std::string target_ = "broker";
};

// Queues one message on the broker (client_id: deliver to that client alone; null: route normally).
// `correlation` (may be empty) is copied as the Correlation Data property.
Status BrokerPublish(const char* client_id, const std::string& topic, const std::string& payload, int qos,
                     bool retain, const std::string* correlation, const std::string* origin);

}  // namespace mqdb
