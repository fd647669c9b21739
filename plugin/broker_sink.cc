#include "plugin/broker_sink.h"

#include <mosquitto_broker.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <cstring>

namespace mqdb {

Status BrokerPublish(const char* client_id, const std::string& topic, const std::string& payload, int qos,
                     bool retain, const std::string* correlation, const std::string* origin) {
  mosquitto_property* props = nullptr;
  if (correlation && !correlation->empty()) {
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, correlation->data(),
                                  static_cast<uint16_t>(correlation->size()));
  }
  if (origin) mosquitto_property_add_string_pair(&props, MQTT_PROP_USER_PROPERTY, "x-origin-client-id", origin->c_str());
  // The non-copy variant takes ownership of a mosquitto_malloc buffer: one copy fewer than _copy.
  void* buf = nullptr;
  if (!payload.empty()) {
    buf = mosquitto_malloc(payload.size());
    if (!buf) {
      mosquitto_property_free_all(&props);
      return Status::Unavailable("out of memory");
    }
    std::memcpy(buf, payload.data(), payload.size());
  }
  int rc = mosquitto_broker_publish(client_id, topic.c_str(), static_cast<int>(payload.size()), buf, qos, retain, props);
  if (rc != MOSQ_ERR_SUCCESS) {  // ownership passes to the broker only on success
    mosquitto_free(buf);
    mosquitto_property_free_all(&props);
    return Status::Unavailable("broker publish failed: " + std::to_string(rc));
  }
  return Status::Ok();
}

Status BrokerSink::Publish(const std::string& topic, const std::string& payload, const std::string& origin_client_id) {
  return BrokerPublish(nullptr, topic, payload, 1, false, nullptr, &origin_client_id);
}

}  // namespace mqdb
