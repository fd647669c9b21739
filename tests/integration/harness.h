// Integration test harness: a real mosquitto with the plugin, on a free loopback port, with its
// RocksDB in a temporary directory; and Paho MQTT clients (MQTT 5 and 3.1.1) to talk to it.
// Every wait is a wait-for-condition with a deadline, never a fixed sleep.
#pragma once

#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/json.h"

namespace mqdb::it {

using namespace std::chrono_literals;

class Broker {
 public:
  // `plugin_opts`: extra `plugin_opt_...` lines (without the prefix); `extra_conf`: raw config lines,
  // where "@DIR@" stands for the broker's temporary directory.
  explicit Broker(std::vector<std::string> plugin_opts = {}, std::string extra_conf = "",
                  std::string data_dir = "");
  ~Broker();

  // Starts mosquitto and waits until it accepts connections. Returns false if it exited instead.
  bool Start();
  void Stop();   // SIGTERM, wait for exit (clean shutdown)
  void Kill();   // SIGKILL, wait for exit (crash)
  bool Restart() { Stop(); return Start(); }
  // Waits for the process to exit by itself; returns its exit status (or -1 on timeout).
  int WaitExit(std::chrono::milliseconds limit = 10s);

  // Starts the next time without the plugin: a stock Mosquitto (a bridge's other end, say).
  void WithoutPlugin() { plugin_ = false; }
  // Lines written before everything else (options Mosquitto wants first, like per_listener_settings).
  void SetPrelude(std::string lines) { prelude_ = std::move(lines); }

  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  std::string data_dir() const { return data_dir_; }
  std::string Log() const;
  std::string conf_path() const { return dir_ + "/mosquitto.conf"; }

 private:
  void WriteConf();
  std::string ReplaceDir(std::string text) const;
  std::vector<std::string> plugin_opts_;
  std::string extra_conf_;
  std::string dir_;
  std::string data_dir_;
  int port_ = 0;
  pid_t pid_ = -1;
  bool owns_dir_ = true;
  bool plugin_ = true;
  std::string prelude_;
};

// A decoded incoming message.
struct Message {
  std::string topic;
  std::string payload;
  std::string correlation;
  std::vector<std::pair<std::string, std::string>> user_properties;
  bool retained = false;
  Json Parsed() const;
};

class Client {
 public:
  Client(const Broker& broker, std::string client_id, int mqtt_version = 5, bool clean = true,
         const std::string& username = "", const std::string& password = "");
  // Publishes and reports whether the broker accepted it (false: PUBACK with an error reason, e.g. 0x87).
  bool TryPublish(const std::string& topic, const std::string& payload);
  ~Client();

  void Subscribe(const std::string& filter, int qos = 1);
  // Returns the SUBACK reason codes' success (false when the broker refused the filter).
  bool TrySubscribe(const std::string& filter, int qos = 1);
  void Publish(const std::string& topic, const std::string& payload, int qos = 1, bool retain = false,
               const std::string& response_topic = "", const std::string& correlation = "");

  // MQTT 5 request/response: publishes with a response topic and fresh correlation data, returns the
  // matching response envelope (parsed). Fails the test on timeout.
  Json Request(const std::string& topic, const std::string& payload, std::chrono::milliseconds limit = 5s);
  // The raw response message of such a request.
  std::optional<Message> RequestRaw(const std::string& topic, const std::string& payload,
                                    const std::string& correlation, std::chrono::milliseconds limit = 5s);

  // Next message (any topic); nullopt on timeout.
  std::optional<Message> Next(std::chrono::milliseconds limit = 5s);
  // Waits until `n` messages on topics matching `filter` arrived (others are kept for later).
  std::vector<Message> Collect(const std::string& filter, size_t n, std::chrono::milliseconds limit = 5s);
  void Disconnect();
  const std::string& id() const { return id_; }

 private:
  std::string id_;
  std::string reply_topic_;
  int version_;
  uint64_t next_corr_ = 0;
  std::string nonce_;
  std::vector<Message> stash_;
  std::unique_ptr<mqtt::async_client> cli_;
};

// Shorthands for response envelopes.
bool IsOk(const Json& env);
int Code(const Json& env);
std::string MessageOf(const Json& env);
const cJSON* Data(const Json& env);
std::string Str(const cJSON* obj, const char* key);
double Num(const cJSON* obj, const char* key);

bool TopicMatches(const std::string& filter, const std::string& topic);

// Polls `cond` every 5 ms until it holds or `limit` passes.
template <typename F>
bool WaitFor(F cond, std::chrono::milliseconds limit = 5s) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(5ms);
  }
  return cond();
}

}  // namespace mqdb::it
