// Service: one node's database behind the wire protocol, without Mosquitto.
//
// plugin.cc turns a MESSAGE event into a Service::Request and the Reply into a publish; everything
// in between (topic and payload validation, execution, the single-batch commit of data + outbox entry,
// event dispatch, counters) happens here, so it is testable without a broker and usable by a fuzzer.
// Broker thread only.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <unordered_map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "outbox/change_feed.h"
#include "outbox/consumer_groups.h"
#include "outbox/outbox.h"
#include "plugin/dedup.h"
#include "plugin/options.h"
#include "plugin/request.h"
#include "plugin/stats.h"
#include "storage/catalog.h"
#include "storage/definitions.h"
#include "storage/records.h"
#include "storage/store.h"

namespace mqdb {

class Service {
 public:
  static Result<std::unique_ptr<Service>> Open(const Config& config);

  struct Request {
    std::string_view topic;
    std::string_view payload;
    std::string client_id;
    std::string username;
    std::string correlation;  // MQTT 5 correlation data (may be empty)
    int qos = 0;
    bool clean_session = true;
    // Whether the broker would let this client read `topic` (its ACL chain): replay shows only the
    // events the client could have subscribed to. Null: everything (no broker, as in tests).
    std::function<bool(const std::string& topic)> may_read;
  };
  struct Reply {
    bool respond = false;  // false: the topic is not a request (no response at all)
    RequestClass cls = RequestClass::kOther;
    Status status;
    Json data;
    std::optional<std::string> request_id;
    uint64_t ticket = 0;  // durability ticket of the write, 0 for reads and errors
    // The response as sent, built once (Handle sets it): a repeated request gets the stored one verbatim.
    std::shared_ptr<const std::string> envelope;
    bool response_persisted = false;  // stored with its write (no need to keep it in memory too)
    // A QoS 2 repeat of a request this session was already answered for (a DUP retransmission, or a
    // retry whose first answer is still queued in the live or persistent session): executed once and
    // answered once, so nothing is sent.
    bool already_answered = false;
  };

  Reply Handle(const Request& request);

  // {"status":"ok","data":…} or {"status":"error","code":…,"message":…}, plus "request_id" if given.
  static std::string Envelope(const Reply& reply);
  static std::string ErrorEnvelope(const Status& status);

  // True when a reply with this ticket may be released (immediate durability: only once fsynced).
  bool IsDurable(uint64_t ticket) const;

  // Dispatches outbox entries whose writes are durable; deletes delivered entries when writes are idle.
  void Pump(const std::vector<EventSink*>& sinks);

  // Background work done in bounded slices on the broker thread (plugin TICK): one index back-fill
  // slice while an index is being built; once a second, removal of expired records through the ttl/
  // index (at most kSweepBatch per call), each as a delete with its events.
  void Housekeeping();
  static constexpr size_t kSweepBatch = 256;

  // $SYS/broker/mqdb/<name> values, every topic of PROTOCOL.md §8 that a single node has.
  std::vector<std::pair<std::string, std::string>> SysValues() const;

  // Consumer groups deliver to one client at a time through `deliver` (the broker's targeted publish).
  void SetGroupDelivery(Deliver deliver) { groups_.SetDeliver(std::move(deliver)); }
  // A client disconnected; `clean`: its session ends now (its group memberships end with it).
  void ClientGone(const std::string& client_id, bool clean) {
    if (clean) groups_.ClientGone(client_id);
    if (auto it = qos2_connection_.find(client_id); it != qos2_connection_.end()) ++it->second;
  }

  // A user listed in admin_users (the empty, anonymous user never is).
  bool IsAdmin(const std::string& username) const;

  Stats& stats() { return stats_; }
  Store& store() { return *store_; }
  Outbox& outbox() { return *outbox_; }
  ChangeFeed& feed() { return feed_; }
  const Config& config() const { return config_; }

 private:
  Service(Config config, std::unique_ptr<Store> store);
  Status Write(Reply& reply, Result<Outcome> outcome, Batch& batch, const std::string& origin,
               const std::optional<std::string>& dedup_key);
  // Takes the parsed payload over: a create makes its fields the record's without copying them.
  Reply Execute(const Request& req, const RequestTarget& target, Json payload, Reply reply,
                const std::optional<std::string>& dedup_key);
  std::shared_ptr<const std::string> FindStoredResponse(const std::string& key);
  // Makes retry lookups go to storage for one window when it already holds stored responses.
  void DistrustStoredResponsesIfAny();
  // Stages the outbox entry of `changes` into `batch` and commits it; returns the durability ticket.
  Result<uint64_t> Commit(std::vector<Change>& changes, Batch& batch, const std::string& origin);
  Result<Outcome> Admin(const std::string& path, const cJSON* body);
  // $DB/_sub/subscribe: a consumer group member, a live query with "filters", and its "snapshot".
  Result<Json> Subscribe(const Request& req, const cJSON* body, const Principal& who);
  size_t SweepExpired(size_t budget);
  Result<Outcome> BackupNow(const cJSON* body);
  Result<Outcome> RestoreNow(const cJSON* body);
  static Json BackupJson(const Store::BackupInfo& b);

  Config config_;
  std::unique_ptr<Store> store_;
  Catalog catalog_;
  Records records_;
  Definitions definitions_;
  std::unique_ptr<Outbox> outbox_;
  ChangeFeed feed_;
  ConsumerGroups groups_;
  std::vector<EventSink*> all_sinks_;  // Pump's scratch: the plugin's sinks + one per consumer group
  // Token bucket per client id (rate_limit): refilled continuously, burst of one second.
  struct Bucket {
    double tokens;
    std::chrono::steady_clock::time_point last;
  };
  bool Admit(const std::string& client_id, std::chrono::steady_clock::time_point now);
  std::unordered_map<std::string, Bucket> buckets_;

  // QoS 2 answer-once (see Reply::already_answered). Mosquitto does not tell the plugin a PUBLISH's
  // packet id or DUP flag, so a QoS 2 repeat counts as a retransmission when its first answer can
  // still reach the client: it arrives on the same connection, or its session is persistent (the
  // answer waits in the session's queue). A clean session that reconnected lost that queue: it is
  // answered again. Only clients that sent QoS 2 requests with an identity are tracked.
  struct Qos2Answer {
    uint64_t connection;  // the client's connection count when it was answered
    std::chrono::steady_clock::time_point expires;
  };
  std::unordered_map<std::string, Qos2Answer> qos2_answered_;   // identity -> when answered
  std::unordered_map<std::string, uint64_t> qos2_connection_;   // client id -> disconnects seen
  static constexpr size_t kMaxQos2Answers = 100000;

  Stats stats_;
  DedupCache dedup_;
  StoredResponseFilter stored_responses_;  // which retry lookups can skip storage
  uint64_t dedup_hits_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::time_point last_write_;
  std::chrono::steady_clock::time_point next_sweep_{};
};

int64_t NowMs();

}  // namespace mqdb
