// mosquitto_mqdb: the Mosquitto 2.0.11 plugin entry points and callbacks. Glue only:
//  - MESSAGE: a `$DB/...` publish becomes a Service::Request; the Reply is routed back
//    (PROTOCOL.md §1): to the MQTT 5 response topic with the correlation data, or to `$DB/_reply`
//    addressed to the requester alone. Requests run inline on the broker thread (ARCHITECTURE.md §1).
//  - TICK: releases replies waiting for fsync (durability immediate), dispatches outbox entries that
//    became durable or are due for retry, publishes $SYS/broker/mqdb/... every sys_interval.
// All state lives in one Context passed as userdata (the same .so may be initialised twice under
// per_listener_settings, so there is no global state). No exception crosses into the broker.
#include <mosquitto_broker.h>  // 2.0.11: must precede mosquitto_plugin.h
#include <mosquitto_plugin.h>
#include <mosquitto.h>
#include <mqtt_protocol.h>

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <unordered_map>
#include <memory>
#include <string>
#include <vector>

#include "plugin/acl.h"
#include "plugin/broker_config.h"
#include "plugin/broker_sink.h"
#include "plugin/doorbell.h"
#include "plugin/options.h"
#include "plugin/service.h"
#include "storage/memory_reuse.h"

#define MQDB_EXPORT extern "C" __attribute__((visibility("default")))

namespace mqdb {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A response, addressed and ready to publish.
struct Outgoing {
  bool direct = false;      // to the requester alone on $DB/_reply
  std::string client_id;    // for direct
  std::string topic;
  std::shared_ptr<const std::string> payload;  // the reply's envelope, shared (not copied) with the retry cache
  std::string correlation;  // MQTT 5 Correlation Data, byte for byte
};

struct Held {  // a response waiting for its write to be fsynced (durability immediate)
  uint64_t ticket;
  Outgoing out;
  SteadyClock::time_point started;
  RequestClass cls;
  int code;
};

// The broker's own ACL check (src/security.c), the one it applies to a client's PUBLISH: the
// `$SYS`/`$share` pre-checks, then every plugin's ACL callback (this one's included), acl_file and
// dynamic security, in the broker's order. 2.0.11 has no public API for it, but exports the symbol
// from the broker binary (as it does every mosquitto_* function plugins call); init refuses to
// start without it rather than answer on topics nobody checked.
using AclCheckFn = int (*)(struct mosquitto* context, const char* topic, uint32_t payloadlen, void* payload,
                           uint8_t qos, bool retain, int access);

struct Context {
  mosquitto_plugin_id_t* id = nullptr;
  AclCheckFn acl_check = nullptr;
  std::unique_ptr<Service> service;
  BrokerSink sink;
  std::vector<EventSink*> sinks;
  Doorbell doorbell;
  std::deque<Held> held;
  std::unordered_map<std::string, int> held_per_client;  // max_inflight accounting
  SteadyClock::time_point next_sys{};
  int acl_fallback = MOSQ_ERR_SUCCESS;  // MOSQ_ERR_SUCCESS (nothing else checks) or MOSQ_ERR_PLUGIN_DEFER
};

constexpr const char* kReplyTopic = "$DB/_reply";

void Send(const Outgoing& out) {
  Status s = BrokerPublish(out.direct ? out.client_id.c_str() : nullptr, out.topic, *out.payload, 1, false,
                           &out.correlation, nullptr);
  if (!s.ok()) mosquitto_log_printf(MOSQ_LOG_WARNING, "mqdb: cannot send response: %s", s.message().c_str());
}

uint64_t ElapsedUs(SteadyClock::time_point since) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - since).count());
}

std::string ReadCorrelation(const mosquitto_property* props) {
  void* data = nullptr;
  uint16_t len = 0;
  std::string out;
  if (mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &data, &len, false)) {
    out.assign(static_cast<const char*>(data), len);
    mosquitto_free(data);
  }
  return out;
}

int OnMessage(int, void* event_data, void* userdata) {
  auto* ctx = static_cast<Context*>(userdata);
  auto* ed = static_cast<mosquitto_evt_message*>(event_data);
  if (std::strncmp(ed->topic, "$DB/", 4) != 0) return MOSQ_ERR_SUCCESS;
  try {
    const auto started = SteadyClock::now();
    const char* cid = mosquitto_client_id(ed->client);
    const char* user = mosquitto_client_username(ed->client);
    Outgoing out;
    out.client_id = cid ? cid : "";
    out.correlation = ReadCorrelation(ed->properties);

    char* response_topic = nullptr;
    mosquitto_property_read_string(ed->properties, MQTT_PROP_RESPONSE_TOPIC, &response_topic, false);
    std::string rt = response_topic ? response_topic : "";
    mosquitto_free(response_topic);

    Service::Request req{std::string_view(ed->topic),
                         std::string_view(static_cast<const char*>(ed->payload), ed->payloadlen),
                         out.client_id, user ? user : "", out.correlation, ed->qos,
                         mosquitto_client_clean_session(ed->client)};
    if (std::strncmp(ed->topic, "$DB/_events/", 12) == 0) {
      // Replay shows only the events this client could have subscribed to: the broker's READ check.
      AclCheckFn check = ctx->acl_check;
      struct mosquitto* client = ed->client;
      req.may_read = [check, client](const std::string& topic) {
        return check(client, topic.c_str(), 0, nullptr, 1, false, MOSQ_ACL_READ) == MOSQ_ERR_SUCCESS;
      };
    }
    Service::Reply reply;
    if (!rt.empty() && (rt[0] == '$' || mosquitto_pub_topic_check(rt.c_str()) != MOSQ_ERR_SUCCESS)) {
      // Never execute on behalf of a client a response could not (or must not) reach.
      reply.respond = true;
      reply.status = Status::BadRequest(rt[0] == '$' ? "response topic must not start with $"
                                                     : "invalid response topic");
      rt.clear();  // the error goes to $DB/_reply, addressed to the requester alone
    } else if (!rt.empty() && ctx->acl_check(ed->client, rt.c_str(), 0, nullptr, 1, false, MOSQ_ACL_WRITE) !=
                                  MOSQ_ERR_SUCCESS) {
      // The plugin publishes only where the requester could publish itself: never a confused deputy
      // carrying one client's request (or its data) to a topic that client may not write.
      reply.respond = true;
      reply.status = Status::Forbidden("forbidden: this client may not publish to its response topic " + rt);
      rt.clear();
    } else if (auto it = ctx->held_per_client.find(out.client_id);
               it != ctx->held_per_client.end() && it->second >= ctx->service->config().max_inflight) {
      // Too many of this client's responses already wait for an fsync: refuse before executing.
      reply.respond = true;
      reply.status = Status(Status::kOverloaded, "overloaded: more than " +
                                                     std::to_string(ctx->service->config().max_inflight) +
                                                     " requests in flight from this client");
    } else {
      reply = ctx->service->Handle(req);
    }
    if (!reply.respond) return MOSQ_ERR_SUCCESS;  // not a request: route as usual
    ed->retain = false;  // a request is never stored as retained, so it is never replayed
    if (reply.already_answered) return MOSQ_ERR_SUCCESS;  // a QoS 2 retransmission: answered once

    out.direct = rt.empty();
    out.topic = out.direct ? kReplyTopic : rt;
    out.payload = reply.envelope ? std::move(reply.envelope) : std::make_shared<const std::string>(Service::Envelope(reply));
    const int code = reply.status.ok() ? 200 : reply.status.code();

    if (ctx->service->IsDurable(reply.ticket)) {
      Send(out);
      ctx->service->stats().Record(reply.cls, code, ElapsedUs(started));
    } else {
      ++ctx->held_per_client[out.client_id];
      ctx->held.push_back({reply.ticket, std::move(out), started, reply.cls, code});
    }
    // The write's events (and any backlog) are queued after its response: the broker drains its
    // queue in order, so the requester's socket write does not wait for the events' routing.
    ctx->service->Pump(ctx->sinks);
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: request on %s failed: %s", ed->topic, e.what());
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: request on %s failed", ed->topic);
  }
  return MOSQ_ERR_SUCCESS;
}

int OnAclCheck(int, void* event_data, void* userdata) {
  auto* ctx = static_cast<Context*>(userdata);
  auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
  try {
    const char* user = mosquitto_client_username(ed->client);
    const Config& config = ctx->service->config();
    AclSubject who;
    who.username = user ? user : "";
    who.admin = ctx->service->IsAdmin(who.username);
    who.cluster = !config.cluster_user.empty() && who.username == config.cluster_user;
    AclVerdict v = AclVerdict::kFallback;
    switch (ed->access) {
      case MOSQ_ACL_SUBSCRIBE: v = CheckSubscribe(ed->topic, who); break;
      case MOSQ_ACL_WRITE: v = CheckWrite(ed->topic, who); break;
      case MOSQ_ACL_READ: v = CheckRead(ed->topic, who); break;
      default: break;  // UNSUBSCRIBE: always fine
    }
    if (v == AclVerdict::kDeny) return MOSQ_ERR_ACL_DENIED;
    if (v == AclVerdict::kAllow) return MOSQ_ERR_SUCCESS;
    return ctx->acl_fallback;
  } catch (...) {
    return MOSQ_ERR_ACL_DENIED;  // fail closed; never let an exception reach the broker
  }
}

int OnDisconnect(int, void* event_data, void* userdata) {
  auto* ctx = static_cast<Context*>(userdata);
  auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
  try {
    const char* cid = mosquitto_client_id(ed->client);  // NULL for sockets that never completed CONNECT
    if (cid) ctx->service->ClientGone(cid, mosquitto_client_clean_session(ed->client));
  } catch (...) {
  }
  return MOSQ_ERR_SUCCESS;
}

void PublishSys(Context* ctx) {
  for (const auto& [name, value] : ctx->service->SysValues()) {
    BrokerPublish(nullptr, "$SYS/broker/mqdb/" + name, value, 0, true, nullptr, nullptr);
  }
}

int OnTick(int, void*, void* userdata) {
  auto* ctx = static_cast<Context*>(userdata);
  try {
    if (!ctx->held.empty()) {
      uint64_t synced = ctx->service->store().syncer().SyncedTicket();
      ctx->service->Pump(ctx->sinks);  // events of fsynced writes go out before their responses
      while (!ctx->held.empty() && ctx->held.front().ticket <= synced) {
        Held& h = ctx->held.front();
        Send(h.out);
        ctx->service->stats().Record(h.cls, h.code, ElapsedUs(h.started));
        auto it = ctx->held_per_client.find(h.out.client_id);
        if (it != ctx->held_per_client.end() && --it->second <= 0) ctx->held_per_client.erase(it);
        ctx->held.pop_front();
      }
      ctx->doorbell.Acknowledge(synced);
    } else {
      ctx->service->Pump(ctx->sinks);
    }
    ctx->service->Housekeeping();
    int interval = ctx->service->config().sys_interval_s;
    auto now = SteadyClock::now();
    if (interval > 0 && now >= ctx->next_sys) {
      PublishSys(ctx);
      ctx->next_sys = now + std::chrono::seconds(interval);
    }
  } catch (...) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: tick failed");
  }
  return MOSQ_ERR_SUCCESS;
}

}  // namespace
}  // namespace mqdb

using mqdb::Context;

// Our own .so path as given on the `plugin` line is not passed to init; the dynamic loader knows it.
static std::string PluginPath() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&mosquitto_plugin_version), &info) && info.dli_fname) return info.dli_fname;
  return "mosquitto_mqdb.so";
}

MQDB_EXPORT int mosquitto_plugin_version(int count, const int* versions) {
  for (int i = 0; i < count; ++i) {
    if (versions[i] == 5) return 5;
  }
  return -1;
}

MQDB_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t* id, void** userdata, struct mosquitto_opt* opts,
                                      int opt_count) {
  try {
    std::vector<std::pair<std::string, std::string>> options;
    for (int i = 0; i < opt_count; ++i) options.emplace_back(opts[i].key, opts[i].value ? opts[i].value : "");
    auto config = mqdb::ParseOptions(options);
    if (!config.ok()) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: %s", config.status().message().c_str());
      return MOSQ_ERR_INVAL;
    }
    // Refusals that need no database come before it is opened.
    auto acl_check = reinterpret_cast<mqdb::AclCheckFn>(dlsym(RTLD_DEFAULT, "mosquitto_acl_check"));
    if (!acl_check) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: this broker does not export mosquitto_acl_check (Mosquitto 2.0.x "
                                         "does): response topics could not be checked against its ACL");
      return MOSQ_ERR_UNKNOWN;
    }
    mqdb::BrokerConfigHints hints = mqdb::DetectBrokerConfig(PluginPath());
    if (hints.per_listener_settings) {
      // 2.0.11 never fires MOSQ_EVT_TICK then: no fsync releases, no outbox retries, no TTL sweep,
      // no $SYS. Refusing is better than a database that silently stops its background work.
      mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: %s sets per_listener_settings true, under which Mosquitto 2.0.11 "
                                         "never runs the plugin's periodic work (outbox retries, TTL sweeps, "
                                         "$SYS, immediate durability): set per_listener_settings false",
                           hints.config_path.c_str());
      return MOSQ_ERR_INVAL;
    }
    if (config->reuse_freed_memory) {
      // Before the database opens, so its first memtable already comes from the heap.
      mqdb::Status reuse = mqdb::ReuseFreedMemory(static_cast<size_t>(config->store.block_cache_mb) << 20);
      if (!reuse.ok()) mosquitto_log_printf(MOSQ_LOG_WARNING, "mqdb: %s", reuse.message().c_str());
    }
    auto service = mqdb::Service::Open(config.value());
    if (!service.ok()) {
      std::string why = service.status().message();
      if (why.find("ermission denied") != std::string::npos) {
        // The most common first-run failure: started as root, Mosquitto has already switched to its
        // `user` (default mosquitto) when plugins are initialised.
        why += "; Mosquitto switches to its `user` (default mosquitto) before loading plugins: give that user "
               "write access to plugin_opt_db_path, or point db_path at a directory it owns";
      }
      mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: %s", why.c_str());
      return MOSQ_ERR_UNKNOWN;
    }
    auto ctx = std::make_unique<Context>();
    ctx->id = id;
    ctx->acl_check = acl_check;
    ctx->service = std::move(service.value());
    ctx->sinks.push_back(&ctx->sink);
    if (config->store.durability == mqdb::Durability::kImmediate) {
      ctx->doorbell.Install();
      Context* raw = ctx.get();
      ctx->service->store().syncer().SetOnSynced(
          [raw] { raw->doorbell.Ring(raw->service->store().syncer().SyncedTicket()); });
    }
    bool defer = config->acl_fallback == mqdb::Config::AclFallback::kDefer;
    if (config->acl_fallback == mqdb::Config::AclFallback::kAuto) {
      defer = hints.other_acl;
      if (!hints.found) {
        mosquitto_log_printf(MOSQ_LOG_WARNING, "mqdb: cannot read the broker configuration to detect acl_file; "
                                               "assuming none (set plugin_opt_acl_fallback defer if you use one)");
      }
    }
    ctx->acl_fallback = defer ? MOSQ_ERR_PLUGIN_DEFER : MOSQ_ERR_SUCCESS;
    int rc = mosquitto_callback_register(id, MOSQ_EVT_MESSAGE, mqdb::OnMessage, nullptr, ctx.get());
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_callback_register(id, MOSQ_EVT_TICK, mqdb::OnTick, nullptr, ctx.get());
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_callback_register(id, MOSQ_EVT_ACL_CHECK, mqdb::OnAclCheck, nullptr, ctx.get());
    if (rc == MOSQ_ERR_SUCCESS) rc = mosquitto_callback_register(id, MOSQ_EVT_DISCONNECT, mqdb::OnDisconnect, nullptr, ctx.get());
    // Group deliveries: QoS 1, addressed to the member's client alone (queued if its session is offline).
    ctx->service->SetGroupDelivery([](const mqdb::Delivery& d) {
      return mqdb::BrokerPublish(d.client_id.c_str(), d.topic, d.payload, 1, false, nullptr, nullptr);
    });
    if (rc != MOSQ_ERR_SUCCESS) {
      mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: cannot register callbacks (%d)", rc);
      return rc;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqdb: database %s open (durability %s, %lld records, last sequence %llu, %zu outbox entries pending, ACL fallback %s)",
                         config->store.path.c_str(), mqdb::DurabilityName(config->store.durability),
                         static_cast<long long>(ctx->service->store().record_count()),
                         static_cast<unsigned long long>(ctx->service->store().last_seq()),
                         ctx->service->outbox().pending(), defer ? "defer" : "allow");
    *userdata = ctx.release();
    return MOSQ_ERR_SUCCESS;
  } catch (const std::exception& e) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "mqdb: init failed: %s", e.what());
    return MOSQ_ERR_UNKNOWN;
  }
}

MQDB_EXPORT int mosquitto_plugin_cleanup(void* userdata, struct mosquitto_opt*, int) {
  auto* ctx = static_cast<Context*>(userdata);
  if (!ctx) return MOSQ_ERR_SUCCESS;
  try {
    mosquitto_callback_unregister(ctx->id, MOSQ_EVT_MESSAGE, mqdb::OnMessage, nullptr);
    mosquitto_callback_unregister(ctx->id, MOSQ_EVT_TICK, mqdb::OnTick, nullptr);
    mosquitto_callback_unregister(ctx->id, MOSQ_EVT_ACL_CHECK, mqdb::OnAclCheck, nullptr);
    mosquitto_callback_unregister(ctx->id, MOSQ_EVT_DISCONNECT, mqdb::OnDisconnect, nullptr);
    ctx->doorbell.Stop();
    ctx->service.reset();  // stops the WAL syncer, syncs the WAL, closes RocksDB
    ctx->doorbell.Uninstall();
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "mqdb: database closed");
  } catch (...) {
  }
  delete ctx;
  return MOSQ_ERR_SUCCESS;
}
