// mqdb-bench: load generator for mosquitto-mqdb (issue: "measure the plugin against the floor").
//
// Each client is one libmosquitto connection (MQTT 5, TCP_NODELAY) on its own thread, keeping
// --pipeline requests in flight; responses are matched by correlation data and timed from publish to
// response. libmosquitto rather than Paho: Paho C sets no TCP_NODELAY (43 ms per sequential request)
// and stalls new connections for its select timeout, which would measure the client, not the plugin.
//
// Workloads: echo insert get update delete list mixed changefeed unique cascade (and "suite": each with
// an echo run before and after it, reported as a ratio to them: tools/echo_floor.h). Run with --help for
// the options.
#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <map>
#include <sstream>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tools/echo_floor.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string workload = "suite";
  double duration_s = 5;
  int concurrency = 1;
  int pipeline = 1;
  int seed = 1000;
  int fields = 5;
  int field_size = 100;
  int qos = 1;
  double write_rate = 500;
  int k = 16;
  int busy_us = 25;
  std::string format = "table";
  std::string entity = "bench";
  std::string username;
  bool reuse = false;
  int broker_pid = 0;  // > 0: report the broker's CPU time per request (a broker on this machine)
  int live_queries = 0;  // live queries on the entity, set up before the workloads
};

void Usage() {
  std::puts(
      "usage: mqdb-bench [options]\n"
      "  --host H            broker address (127.0.0.1)\n"
      "  --port P            broker port (1883)\n"
      "  --workload W        echo|echo-record|echo-busy|insert|get|update|delete|list|ilist|mixed|changefeed|unique|cascade|\n"
      "                      hostile|replay|tx|\n"
      "                      suite|all,\n"
      "                      or a comma-separated list of them (suite). suite = insert, get, update, delete,\n"
      "                      list, ilist, mixed, with an echo run before and after each;\n"
      "                      all = suite + queue, changefeed, unique, cascade.\n"
      "                      list: limit 10 at a random offset < 50; ilist: indexed filter k = v matching 10\n"
      "                      seeded records (the index on k is added before seeding; needs --username of an admin);\n"
      "                      echo-record: echo with an insert's record as payload, returned as a string;\n"
      "                      echo-busy: echo that holds the broker thread --busy-us first: the best a request\n"
      "                      costing the plugin that much broker-thread time can reach on this machine\n"
      "                      queue: each client uses its own entity as a queue, in turn creating a record\n"
      "                      tx: transactions of 10 creates (records/s in the note)\n"
      "                      replay: pages of 1000 events of the change feed from random points of the seeded ones\n"
      "                      hostile: the hostile-input corpus (huge in/like, record growth, oversized pages,\n"
      "                      deep nesting, NUL, ...) once, in turn: the longest round trip and, with\n"
      "                      --broker-pid, the broker's RSS before and after\n"
      "                      (ids in time order), deleting the oldest (10 stay) and listing the first 10\n"
      "                      tx: transactions of 10 creates (records/s in the note)\n"
      "                      replay: pages of 1000 events of the change feed from random points of the seeded ones\n"
      "                      hostile: the hostile-input corpus (huge in/like, record growth, oversized pages,\n"
      "                      deep nesting, NUL, ...) once, in turn: the longest round trip and, with\n"
      "                      --broker-pid, the broker's RSS before and after\n"
      "  --duration S        seconds per workload (5)\n"
      "  --concurrency N     clients, one connection and thread each (1)\n"
      "  --pipeline N        requests in flight per client (1)\n"
      "  --seed N            records created before get/update/delete/list/ilist/mixed (1000)\n"
      "  --live-queries N    before the workloads, N consumer groups on the entity with the live query\n"
      "                      n = i (i = 0..N-1; records' n is 0..999), one member each (0)\n"
      "  --reuse             the --seed records exist already (an earlier run on this broker made them)\n"
      "  --fields N          fields per record (5)\n"
      "  --field-size N      bytes per field (100): 5 x 100 is about the 600-byte records of the MQDB paper\n"
      "  --qos 0|1           QoS of requests (1); responses and events are QoS 1\n"
      "  --write-rate R      changefeed: writes per second (500)\n"
      "  --k N               unique: clients racing; cascade: children (16)\n"
      "  --busy-us N         echo-busy: microseconds each request holds the broker thread (25, 1-10000)\n"
      "  --entity NAME       entity prefix (bench)\n"
      "  --username U        MQTT username (for admin topics: constraint setup in unique/cascade)\n"
      "  --format F          table|json|csv (table)\n"
      "  --broker-pid PID    the broker runs on this machine as PID: each workload also reports the\n"
      "                      broker's CPU time per request, of its main thread (the one that runs\n"
      "                      Mosquitto and the plugin) and of all its threads (RocksDB's included).\n"
      "                      Steadier than req/s on a shared machine for comparing two builds\n"
      "vs echo: a run's req/s over the faster of the echo runs nearest before and after it (an echo\n"
      "run: over the fastest echo of the whole run), so run echo around what you measure (echo,W,echo).\n"
      "The broker needs plugin_opt_bench_echo true for the echo workload.");
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (a == "--help" || a == "-h") { Usage(); std::exit(0); }
    if (a == "--reuse") { o.reuse = true; continue; }
    if (!(v = next())) { std::fprintf(stderr, "missing value for %s\n", a.c_str()); return false; }
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = std::atoi(v);
    else if (a == "--workload") o.workload = v;
    else if (a == "--duration") o.duration_s = std::atof(v);
    else if (a == "--concurrency") o.concurrency = std::max(1, std::atoi(v));
    else if (a == "--pipeline") o.pipeline = std::max(1, std::atoi(v));
    else if (a == "--seed") o.seed = std::max(0, std::atoi(v));
    else if (a == "--fields") o.fields = std::max(0, std::atoi(v));
    else if (a == "--field-size") o.field_size = std::max(0, std::atoi(v));
    else if (a == "--qos") o.qos = std::atoi(v) ? 1 : 0;
    else if (a == "--write-rate") o.write_rate = std::max(1.0, std::atof(v));
    else if (a == "--k") o.k = std::max(1, std::atoi(v));
    else if (a == "--busy-us") o.busy_us = std::min(10000, std::max(1, std::atoi(v)));
    else if (a == "--entity") o.entity = v;
    else if (a == "--username") o.username = v;
    else if (a == "--format") o.format = v;
    else if (a == "--broker-pid") o.broker_pid = std::atoi(v);
    else if (a == "--live-queries") o.live_queries = std::atoi(v);
    else { std::fprintf(stderr, "unknown option %s (see --help)\n", a.c_str()); return false; }
  }
  return true;
}

// `k` >= 0 adds the field the ilist workload filters on (seeded records: k = i / 10, ten records per value).
std::string Record(const Options& o, std::mt19937_64& rng, const std::string& id = "", long k = -1) {
  std::string r = "{";
  if (!id.empty()) r += "\"id\":\"" + id + "\",";
  if (k >= 0) r += "\"k\":" + std::to_string(k) + ",";
  for (int f = 0; f < o.fields; ++f) {
    std::string v(static_cast<size_t>(o.field_size), 'a' + static_cast<char>(rng() % 26));
    r += "\"f" + std::to_string(f) + "\":\"" + v + "\",";
  }
  r += "\"n\":" + std::to_string(rng() % 1000) + "}";
  return r;
}

struct Result {
  std::string workload;
  int concurrency = 0, pipeline = 0;
  uint64_t ok = 0, errors = 0;
  double seconds = 0;
  std::vector<double> latency_us;
  std::string note;
  double broker_us = -1, process_us = -1;  // broker CPU per request (--broker-pid): main thread, all threads
  double Throughput() const { return seconds > 0 ? (ok + errors) / seconds : 0; }
  double Pct(double p) const {
    if (latency_us.empty()) return 0;
    std::vector<double> v = latency_us;
    size_t k = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * v.size()));
    std::nth_element(v.begin(), v.begin() + static_cast<long>(k), v.end());
    return v[k];
  }
};

// One MQTT 5 connection that issues requests and matches their responses.
class Conn {
 public:
  using Next = std::function<bool(std::string& topic, std::string& payload)>;  // false: nothing more
  Conn(const Options& o, const std::string& id, bool clean = true) : o_(o), id_(id), reply_("bench/r/" + id) {
    m_ = mosquitto_new(id.c_str(), clean, this);
    mosquitto_int_option(m_, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(m_, MOSQ_OPT_TCP_NODELAY, 1);
    if (!o.username.empty()) mosquitto_username_pw_set(m_, o.username.c_str(), nullptr);
    mosquitto_message_v5_callback_set(m_, [](mosquitto*, void* self, const mosquitto_message* msg, const mosquitto_property* p) {
      static_cast<Conn*>(self)->OnMessage(msg, p);
    });
    ok_ = mosquitto_connect(m_, o.host.c_str(), o.port, 60) == MOSQ_ERR_SUCCESS;
    if (ok_) Subscribe(reply_);
  }
  ~Conn() {
    mosquitto_disconnect(m_);
    mosquitto_destroy(m_);
  }
  bool ok() const { return ok_; }
  void Subscribe(const std::string& filter) {
    mosquitto_subscribe_v5(m_, nullptr, filter.c_str(), 1, 0, nullptr);
    for (int i = 0; i < 20; ++i) mosquitto_loop(m_, 5, 1);  // let the SUBACK arrive
  }
  // Sends one request; returns its correlation number.
  uint64_t Send(const std::string& topic, const std::string& payload) {
    uint64_t n = ++sent_;
    // Unique per connection object: the plugin treats a repeated (client id, correlation) as a retry.
    std::string corr = std::to_string(n) + "." + nonce_;
    mosquitto_property* props = nullptr;
    mosquitto_property_add_string(&props, MQTT_PROP_RESPONSE_TOPIC, reply_.c_str());
    mosquitto_property_add_binary(&props, MQTT_PROP_CORRELATION_DATA, corr.data(), static_cast<uint16_t>(corr.size()));
    started_[n] = Clock::now();
    mosquitto_publish_v5(m_, nullptr, topic.c_str(), static_cast<int>(payload.size()), payload.data(), o_.qos, false, props);
    mosquitto_property_free_all(&props);
    return n;
  }
  // Keeps `pipeline` requests in flight until `until` or until `next` runs out; records into `r`.
  void Run(Result& r, Clock::time_point until, const Next& next) {
    bool more = true;
    while (true) {
      while (more && started_.size() < static_cast<size_t>(o_.pipeline) && Clock::now() < until) {
        std::string topic, payload;
        if (!(more = next(topic, payload))) break;
        Send(topic, payload);
      }
      if (started_.empty() && (!more || Clock::now() >= until)) break;
      if (Clock::now() > until + std::chrono::seconds(10)) break;  // responses lost: give up
      mosquitto_loop(m_, 5, 1);
      for (auto& [lat, status_ok] : done_) {
        r.latency_us.push_back(lat);
        (status_ok ? r.ok : r.errors)++;
      }
      done_.clear();
    }
  }
  // Waits until `pred` (checked after each loop iteration) or `limit`.
  template <typename F>
  bool LoopUntil(F pred, std::chrono::milliseconds limit) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      mosquitto_loop(m_, 5, 1);
      if (pred()) return true;
    }
    return pred();
  }
  void Poll(int timeout_ms) { mosquitto_loop(m_, timeout_ms, 1); }
  // Other messages (events) with their arrival time.
  std::vector<std::pair<std::string, Clock::time_point>> others;
  std::vector<std::string> last_payloads;

 private:
  void OnMessage(const mosquitto_message* msg, const mosquitto_property* props) {
    std::string topic = msg->topic;
    std::string payload(static_cast<const char*>(msg->payload), static_cast<size_t>(msg->payloadlen));
    if (topic != reply_) {
      others.emplace_back(payload, Clock::now());
      return;
    }
    void* corr = nullptr;
    uint16_t len = 0;
    if (!mosquitto_property_read_binary(props, MQTT_PROP_CORRELATION_DATA, &corr, &len, false)) return;
    uint64_t n = std::strtoull(std::string(static_cast<char*>(corr), len).c_str(), nullptr, 10);
    free(corr);
    auto it = started_.find(n);
    if (it == started_.end()) return;
    double us = std::chrono::duration<double, std::micro>(Clock::now() - it->second).count();
    started_.erase(it);
    done_.emplace_back(us, payload.rfind("{\"status\":\"ok\"", 0) == 0);
    if (last_payloads.size() < 8) last_payloads.push_back(payload);
  }

  const Options& o_;
  std::string id_, reply_;
  mosquitto* m_ = nullptr;
  bool ok_ = false;
  uint64_t sent_ = 0;
  std::string nonce_ = std::to_string(std::random_device{}()) + std::to_string(Clock::now().time_since_epoch().count());
  std::map<uint64_t, Clock::time_point> started_;
  std::vector<std::pair<double, bool>> done_;
};

// Runs `make_next(client index)` on `o.concurrency` connections in parallel for o.duration_s.
Result RunClients(const Options& o, const std::string& name, const std::function<Conn::Next(int)>& make_next) {
  Result total;
  total.workload = name;
  total.concurrency = o.concurrency;
  total.pipeline = o.pipeline;
  std::vector<std::unique_ptr<Conn>> conns;
  for (int c = 0; c < o.concurrency; ++c) {
    conns.push_back(std::make_unique<Conn>(o, "bench-" + name + "-" + std::to_string(c) + "-" + std::to_string(getpid())));
    if (!conns.back()->ok()) {
      std::fprintf(stderr, "cannot connect to %s:%d\n", o.host.c_str(), o.port);
      std::exit(2);
    }
  }
  std::vector<Result> parts(static_cast<size_t>(o.concurrency));
  auto start = Clock::now();
  auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  std::vector<std::thread> threads;
  for (int c = 0; c < o.concurrency; ++c) {
    threads.emplace_back([&, c] { conns[static_cast<size_t>(c)]->Run(parts[static_cast<size_t>(c)], until, make_next(c)); });
  }
  for (auto& t : threads) t.join();
  total.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& p : parts) {
    total.ok += p.ok;
    total.errors += p.errors;
    total.latency_us.insert(total.latency_us.end(), p.latency_us.begin(), p.latency_us.end());
  }
  return total;
}

void Seed(const Options& o) {
  if (o.seed == 0 || o.reuse) return;
  Options so = o;
  so.concurrency = 1;
  so.pipeline = 64;
  Conn c(so, "bench-seed-" + std::to_string(getpid()));
  std::mt19937_64 rng(1);
  int i = 0;
  Result r;
  c.Run(r, Clock::now() + std::chrono::hours(1), [&](std::string& t, std::string& p) {
    if (i >= o.seed) return false;
    t = "$DB/" + o.entity + "/create";
    p = Record(o, rng, "s" + std::to_string(i), i / 10);
    ++i;
    return true;
  });
}

Result Workload(const Options& o, const std::string& w) {
  const std::string base = "$DB/" + o.entity;
  auto per_client = [&](auto fn) {
    return [fn, &o](int c) {
      auto rng = std::make_shared<std::mt19937_64>(static_cast<uint64_t>(c) * 7919 + 17);
      auto counter = std::make_shared<uint64_t>(0);
      return Conn::Next([fn, rng, counter, c, &o](std::string& t, std::string& p) { return fn(*rng, (*counter)++, c, t, p); });
    };
  };
  int seed = std::max(1, o.seed);
  auto random_id = [seed](std::mt19937_64& rng) { return "s" + std::to_string(rng() % static_cast<uint64_t>(seed)); };
  if (w == "echo" || w == "echo-busy") {
    // echo-busy: the same request, answered after the broker thread was held --busy-us.
    const bool busy = w == "echo-busy";
    const std::string topic = busy ? "$DB/_echo/busy/" + std::to_string(o.busy_us) : "$DB/_echo";
    Result r = RunClients(o, w, per_client([topic](auto&, uint64_t, int, std::string& t, std::string& p) {
      t = topic;
      p = "{}";
      return true;
    }));
    if (busy) r.note = "busy " + std::to_string(o.busy_us) + " us";
    return r;
  }
  if (w == "echo-record") {
    // The floor with an insert's sizes: the record goes to $DB/_echo and comes back as a string.
    return RunClients(o, w, per_client([&o](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = "$DB/_echo";
      p = Record(o, rng);
      return true;
    }));
  }
  if (w == "insert") {
    return RunClients(o, w, per_client([&o, base](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = base + "/create";
      p = Record(o, rng);
      return true;
    }));
  }
  if (w == "get") {
    return RunClients(o, w, per_client([base, random_id](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = base + "/" + random_id(rng);
      p = "";
      return true;
    }));
  }
  if (w == "update") {
    return RunClients(o, w, per_client([base, random_id](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = base + "/" + random_id(rng) + "/update";
      p = "{\"n\":" + std::to_string(rng() % 1000) + "}";
      return true;
    }));
  }
  if (w == "delete") {
    // Deletes records created for it (by this workload's own clients) so every delete finds one.
    return RunClients(o, w, per_client([&o, base](std::mt19937_64& rng, uint64_t i, int c, std::string& t, std::string& p) {
      std::string id = "d" + std::to_string(c) + "-" + std::to_string(i / 2) + "-" + std::to_string(getpid());
      if (i % 2 == 0) {
        t = base + "/create";
        p = Record(o, rng, id);
      } else {
        t = base + "/" + id + "/delete";
        p = "";
      }
      return true;
    }));
  }
  if (w == "tx") {
    // A transaction of 10 creates per request: compare its records/s (= req/s x 10) with insert's.
    Result r = RunClients(o, w, per_client([base, &o](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = "$DB/_tx";
      p = R"({"ops":[)";
      for (int i = 0; i < 10; ++i) {
        p += std::string(i ? "," : "") + R"({"op":"create","entity":")" + o.entity + R"(","data":)" + Record(o, rng) + "}";
      }
      p += "]}";
      return true;
    }));
    char note[64];
    std::snprintf(note, sizeof note, "%.0f records/s (10 per transaction)", r.Throughput() * 10);
    r.note = note;
    return r;
  }
  if (w == "replay") {
    // The change feed: pages of 1,000 retained events from a random point of the seeded ones (one
    // entity's events, all of them its own). events/s = req/s x 1000.
    Result r = RunClients(o, w, per_client([entity = o.entity, seed](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = "$DB/_events/replay";
      p = R"({"limit":1000,"entity":")" + entity + R"(","after":)" + std::to_string(rng() % static_cast<uint64_t>(std::max(1, seed - 1000))) + "}";
      return true;
    }));
    char note[96];
    std::snprintf(note, sizeof note, "%.0f events/s (pages of 1000)", r.Throughput() * 1000);
    r.note = note;
    return r;
  }
  if (w == "list") {
    return RunClients(o, w, per_client([base](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = base + "/list";
      p = "{\"limit\":10,\"offset\":" + std::to_string(rng() % 50) + "}";
      return true;
    }));
  }
  if (w == "ilist") {
    // An indexed equality filter matching 10 seeded records, whatever --seed is: the cost of an
    // index lookup as the database grows (main adds the index on k before seeding).
    return RunClients(o, w, per_client([base, seed](std::mt19937_64& rng, uint64_t, int, std::string& t, std::string& p) {
      t = base + "/list";
      p = R"({"filters":[{"field":"k","op":"eq","value":)" + std::to_string(rng() % static_cast<uint64_t>(std::max(1, seed / 10))) +
          R"(}],"limit":10})";
      return true;
    }));
  }
  if (w == "mixed") {
    // 20 % each; deletes remove records this client created earlier in the run (so nothing 404s).
    return RunClients(o, w, [&o, base, random_id](int c) {
      auto rng = std::make_shared<std::mt19937_64>(static_cast<uint64_t>(c) * 104729 + 3);
      auto mine = std::make_shared<std::vector<std::string>>();
      auto counter = std::make_shared<uint64_t>(0);
      return Conn::Next([&o, base, random_id, rng, mine, counter, c](std::string& t, std::string& p) {
        unsigned op = (*rng)() % 5;
        if (op == 3 && mine->empty()) op = 0;
        switch (op) {
          case 0: {
            std::string id = "m" + std::to_string(c) + "-" + std::to_string((*counter)++) + "-" + std::to_string(getpid());
            mine->push_back(id);
            t = base + "/create";
            p = Record(o, *rng, id);
            break;
          }
          case 1: t = base + "/" + random_id(*rng); p = ""; break;
          case 2: t = base + "/" + random_id(*rng) + "/update"; p = "{\"n\":1}"; break;
          case 3: t = base + "/" + mine->back() + "/delete"; p = ""; mine->pop_back(); break;
          default: t = base + "/list"; p = "{\"limit\":10}"; break;
        }
        return true;
      });
    });
  }
  if (w == "queue") {
    // Deletes at the head of a key range, scans from its start: the pattern (a job queue, time-ordered
    // ids consumed oldest first) where a scan must not walk every deleted key before the live ones.
    return RunClients(o, w, per_client([&o](std::mt19937_64& rng, uint64_t i, int c, std::string& t, std::string& p) {
      const std::string queue = "$DB/" + o.entity + "q" + std::to_string(c) + "-" + std::to_string(getpid());
      auto id = [](uint64_t n) {
        char buf[24];
        std::snprintf(buf, sizeof buf, "%012llu", static_cast<unsigned long long>(n));
        return std::string(buf);
      };
      const uint64_t n = i / 3;
      if (i % 3 == 0) {
        t = queue + "/create";
        p = Record(o, rng, id(n));
      } else if (i % 3 == 1 && n >= 10) {
        t = queue + "/" + id(n - 10) + "/delete";
        p = "";
      } else {
        t = queue + "/list";
        p = "{\"limit\":10}";
      }
      return true;
    }));
  }
  std::fprintf(stderr, "unknown workload %s\n", w.c_str());
  std::exit(2);
}

// Writes at --write-rate; latency from the request's publish to its event's arrival.
Result Changefeed(const Options& o) {
  Result r;
  r.workload = "changefeed";
  r.concurrency = 1;
  r.pipeline = 1;
  std::string entity = o.entity + "_feed" + std::to_string(getpid());
  Conn sub(o, "bench-feed-sub-" + std::to_string(getpid()));
  sub.Subscribe("$DB/" + entity + "/events/#");
  Conn w(o, "bench-feed-writer-" + std::to_string(getpid()));
  std::map<std::string, Clock::time_point> sent;  // record id -> publish time
  std::mt19937_64 rng(3);
  auto start = Clock::now();
  auto until = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.duration_s));
  const auto gap = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1.0 / o.write_rate));
  auto next = start;
  uint64_t i = 0;
  while (Clock::now() < until) {
    if (Clock::now() >= next) {
      std::string id = "c" + std::to_string(i++);
      sent[id] = Clock::now();
      w.Send("$DB/" + entity + "/create", Record(o, rng, id));
      next += gap;
    }
    w.Poll(0);
    sub.Poll(1);
  }
  sub.LoopUntil([&] { return sub.others.size() >= sent.size(); }, std::chrono::seconds(10));
  for (const auto& [payload, at] : sub.others) {
    auto p = payload.find("\"id\":\"");
    if (p == std::string::npos) continue;
    std::string id = payload.substr(p + 6, payload.find('"', p + 6) - p - 6);
    auto it = sent.find(id);
    if (it == sent.end()) continue;
    r.latency_us.push_back(std::chrono::duration<double, std::micro>(at - it->second).count());
    ++r.ok;
  }
  r.errors = sent.size() - r.ok;  // events that never arrived
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.note = std::to_string(sent.size()) + " writes, " + std::to_string(r.ok) + " events, " + std::to_string(r.errors) + " lost";
  return r;
}

std::string AdminSetup(const Options& o, const std::string& topic, const std::string& payload) {
  Conn c(o, "bench-admin-" + std::to_string(getpid()));
  Result r;
  bool once = true;
  c.Run(r, Clock::now() + std::chrono::seconds(10), [&](std::string& t, std::string& p) {
    if (!once) return false;
    once = false;
    t = topic;
    p = payload;
    return true;
  });
  return c.last_payloads.empty() ? "" : c.last_payloads[0];
}

// K clients x 100 creates of the same unique value: exactly one may succeed.
Result Unique(const Options& o) {
  std::string entity = o.entity + "_uniq" + std::to_string(getpid());
  std::string setup = AdminSetup(o, "$DB/_admin/constraint/" + entity + "/add", R"({"type":"unique","fields":["handle"]})");
  Options uo = o;
  uo.concurrency = o.k;
  uo.pipeline = 1;
  Result r = RunClients(uo, "unique", [&](int) {
    auto n = std::make_shared<int>(0);
    return Conn::Next([&, n, entity](std::string& t, std::string& p) {
      if ((*n)++ >= 100) return false;
      t = "$DB/" + entity + "/create";
      p = R"({"handle":"the-one"})";
      return true;
    });
  });
  r.workload = "unique";
  r.note = "K=" + std::to_string(o.k) + ": " + std::to_string(r.ok) + " success(es), " + std::to_string(r.errors) +
           " conflicts" + (setup.rfind("{\"status\":\"ok\"", 0) == 0 ? "" : " (constraint setup failed: " + setup + ")");
  return r;
}

// 1 parent + K children with an on_delete cascade; delete the parent.
Result Cascade(const Options& o) {
  Result r;
  r.workload = "cascade";
  r.concurrency = 1;
  r.pipeline = 1;
  std::string parent = o.entity + "_parent" + std::to_string(getpid()), child = o.entity + "_child" + std::to_string(getpid());
  std::string setup = AdminSetup(o, "$DB/_admin/constraint/" + child + "/add",
                                 R"({"type":"foreign_key","field":"parent_id","target_entity":")" + parent + R"(","on_delete":"cascade"})");
  if (setup.rfind("{\"status\":\"ok\"", 0) != 0) std::fprintf(stderr, "cascade setup failed: %s\n", setup.c_str());
  Conn w(o, "bench-cascade-" + std::to_string(getpid()));
  Options po = o;
  po.pipeline = 64;
  Result fill;
  int i = -1;
  Conn filler(po, "bench-cascade-fill-" + std::to_string(getpid()));
  filler.Run(fill, Clock::now() + std::chrono::minutes(10), [&](std::string& t, std::string& p) {
    if (i >= o.k) return false;
    if (i++ < 0) { t = "$DB/" + parent + "/create"; p = R"({"id":"p"})"; return true; }
    t = "$DB/" + child + "/create";
    p = R"({"parent_id":"p"})";
    return true;
  });
  Conn sub(o, "bench-cascade-sub-" + std::to_string(getpid()));
  sub.Subscribe("$DB/" + child + "/events/#");
  auto start = Clock::now();
  Result del;
  bool once = true;
  w.Run(del, Clock::now() + std::chrono::seconds(30), [&](std::string& t, std::string& p) {
    if (!once) return false;
    once = false;
    t = "$DB/" + parent + "/p/delete";
    p = "";
    return true;
  });
  double round_trip = del.latency_us.empty() ? -1 : del.latency_us[0];
  sub.LoopUntil([&] { return sub.others.size() >= static_cast<size_t>(o.k); }, std::chrono::seconds(30));
  double last_event = sub.others.size() >= static_cast<size_t>(o.k)
                          ? std::chrono::duration<double, std::micro>(sub.others.back().second - start).count()
                          : -1;
  r.ok = del.ok;
  r.errors = del.errors;
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  r.latency_us = {round_trip};
  r.note = "K=" + std::to_string(o.k) + ": round trip " + std::to_string(static_cast<long>(round_trip)) + " us, " +
           std::to_string(sub.others.size()) + " child events, last after " + std::to_string(static_cast<long>(last_event)) + " us";
  return r;
}

// CPU time the broker has used so far, in microseconds: its main thread (schedstat, nanoseconds) and
// the whole process (stat's utime + stime, clock ticks, threads that have ended included).
struct BrokerCpu {
  double thread_us = -1, process_us = -1;
};

BrokerCpu SampleBrokerCpu(int pid) {
  BrokerCpu c;
  if (pid <= 0) return c;
  const std::string proc = "/proc/" + std::to_string(pid);
  std::ifstream sched(proc + "/task/" + std::to_string(pid) + "/schedstat");
  double ns = 0;
  if (sched >> ns) c.thread_us = ns / 1000;
  std::ifstream stat(proc + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  size_t after_name = text.rfind(')');  // the command name may hold spaces
  if (after_name != std::string::npos) {
    std::istringstream fields(text.substr(after_name + 1));
    std::string skip;
    for (int i = 3; i <= 13; ++i) fields >> skip;  // state ... cmajflt
    double utime = 0, stime = 0;
    if (fields >> utime >> stime) c.process_us = (utime + stime) * 1e6 / sysconf(_SC_CLK_TCK);
  }
  return c;
}

// Charges the broker CPU used between `before` and now to r's requests.
void ChargeBrokerCpu(const Options& o, const BrokerCpu& before, Result& r) {
  const BrokerCpu after = SampleBrokerCpu(o.broker_pid);
  const double n = static_cast<double>(r.ok + r.errors);
  if (n <= 0) return;
  if (before.thread_us >= 0 && after.thread_us >= 0) r.broker_us = (after.thread_us - before.thread_us) / n;
  if (before.process_us >= 0 && after.process_us >= 0) r.process_us = (after.process_us - before.process_us) / n;
}

// The broker's resident memory in KiB (/proc/PID/status VmRSS), -1 when unknown.
long BrokerRssKb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

// hostile: the hostile-input corpus of PROTOCOL.md §1 ("Bounded work"), three times, each request in turn
// on one connection, after --seed records: the largest `in` and `like` allowed and far larger ones,
// a record grown past max_record_bytes, a page over max_response_bytes, 10,000-record pages, deep
// nesting, NUL, out-of-range numbers, a 4 MiB payload. Reports the longest round trip and (with
// --broker-pid) the longest broker-thread CPU time of one request, with their names, and the
// broker's RSS after the setup writes and after each pass (a leak grows it pass after pass; bounded
// caches fill once).
Result Hostile(const Options& o) {
  Result r;
  r.workload = "hostile";
  r.concurrency = 1;
  r.pipeline = 1;
  Options so = o;
  so.pipeline = 1;
  Conn c(so, "bench-hostile-" + std::to_string(getpid()));
  if (!c.ok()) {
    std::fprintf(stderr, "cannot connect to %s:%d\n", o.host.c_str(), o.port);
    std::exit(2);
  }
  const std::string base = "$DB/" + o.entity, words = "$DB/" + o.entity + "-words", big = "$DB/" + o.entity + "-big";
  // name, (topic, payload). `setup` makes the data the corpus works on (legitimate writes: the
  // memory they take is the database's); `corpus` is then sent three times, so that the later passes
  // show whether hostile requests leave memory behind.
  using Entry = std::pair<std::string, std::pair<std::string, std::string>>;
  std::vector<Entry> setup, corpus;
  auto add = [](std::vector<Entry>& to, const std::string& name, const std::string& topic, std::string payload) {
    to.push_back({name, {topic, std::move(payload)}});
  };
  auto in_list = [](size_t n) {
    std::string v;
    for (size_t i = 0; i < n; ++i) v += (i ? "," : "") + std::to_string(i * 7);
    return v;
  };
  add(setup, "200 KB value to match", words + "/create", R"({"w":")" + std::string(200000, 'a') + R"("})");
  for (int i = 0; i < 20; ++i) add(setup, "900 KB record", big + "/create", "{\"b\":\"" + std::string(900000, 'b') + "\"}");
  add(corpus, "in 1000 values (count)", base + "/count", R"({"filters":[{"field":"n","op":"in","value":[)" + in_list(1000) + "]}]}");
  add(corpus, "in 100000 values", base + "/count", R"({"filters":[{"field":"n","op":"in","value":[)" + in_list(100000) + "]}]}");
  add(corpus, "like 256 bytes (worst case)", words + "/count",
      R"({"filters":[{"field":"w","op":"like","value":"*)" + std::string(254, 'a') + R"(b"}]})");
  add(corpus, "like 100000 bytes", words + "/count", R"({"filters":[{"field":"w","op":"like","value":"*)" + std::string(100000, 'a') + R"(b"}]})");
  add(corpus, "grow: create", words + "/create", "{}");  // a fresh id each time: the record to grow
  for (int i = 0; i < 8; ++i) add(corpus, "grow: +200 KB field", "", "{\"f" + std::to_string(i) + "\":\"" + std::string(200000, 'x') + "\"}");
  add(corpus, "page over max_response_bytes", big + "/list", R"({"limit":10000})");
  add(corpus, "list 10000", base + "/list", R"({"limit":10000})");
  add(corpus, "list 10000 sorted", base + "/list", R"({"limit":10000,"sort":[{"field":"n","direction":"desc"},{"field":"f0"}]})");
  std::string filters;
  for (int i = 0; i < 16; ++i) filters += std::string(i ? "," : "") + R"({"field":"f)" + std::to_string(i % 5) + R"(","op":"like","value":"*a*"})";
  add(corpus, "count with 16 filters", base + "/count", R"({"filters":[)" + filters + "]}");
  add(corpus, "nesting 200000 deep", base + "/create", "{\"a\":" + std::string(200000, '[') + std::string(200000, ']') + "}");
  add(corpus, "NUL in an id", base + "/create", R"({"id":"a\u0000b"})");
  add(corpus, "number out of range", base + "/create", R"({"v":1e400})");
  add(corpus, "4 MiB payload", base + "/create", "{\"a\":\"" + std::string((4 << 20) - 8, 'z') + "\"}");
  add(corpus, "dotted projection", base + "/list", R"({"limit":10000,"projection":["f0","o.c"]})");

  std::string grow_id;  // the id the last "grow: create" got; "grow" updates go to it
  auto send = [&](const Entry& e, Result& one) {
    size_t i = 0;
    c.Run(one, Clock::now() + std::chrono::seconds(60), [&](std::string& t, std::string& p) {
      if (i++) return false;
      t = e.second.first.empty() ? words + "/" + grow_id + "/update" : e.second.first;
      p = e.second.second;
      return true;
    });
    if (e.first == "grow: create" && !c.last_payloads.empty()) {
      const std::string& reply = c.last_payloads.back();
      size_t at = reply.find("\"id\":\"");
      if (at != std::string::npos) grow_id = reply.substr(at + 6, reply.find('"', at + 6) - at - 6);
    }
  };
  for (const auto& e : setup) {
    Result one;
    send(e, one);
  }
  const long rss_before = BrokerRssKb(o.broker_pid);
  double longest = 0, longest_cpu = -1;
  std::string longest_name, longest_cpu_name;
  auto start = Clock::now();
  std::vector<long> rss_after_pass;
  for (int pass = 1; pass <= 3; ++pass) {
    for (const auto& e : corpus) {
      const std::string& name = e.first;
      Result one;
      const BrokerCpu cpu_before = SampleBrokerCpu(o.broker_pid);
      c.last_payloads.clear();
      send(e, one);
      // The broker thread's CPU time over this one request (the client waits meanwhile, so little
      // else runs there): what the request cost every other client of the broker.
      const BrokerCpu cpu_after = SampleBrokerCpu(o.broker_pid);
      const double cpu_us = cpu_before.thread_us >= 0 ? cpu_after.thread_us - cpu_before.thread_us : -1;
      if (cpu_us > longest_cpu) longest_cpu = cpu_us, longest_cpu_name = name;
      r.ok += one.ok;
      r.errors += one.errors;
      for (double us : one.latency_us) {
        r.latency_us.push_back(us);
        if (us > longest) longest = us, longest_name = name;
      }
      if (one.ok + one.errors == 0) std::fprintf(stderr, "hostile: no answer to \"%s\"\n", name.c_str());
      else if (pass == 1) std::fprintf(stderr, "# hostile: %-30s %s  round trip %8.2f ms  broker thread %8.2f ms\n", name.c_str(),
                                       one.ok ? "ok   " : "error", one.latency_us.empty() ? 0 : one.latency_us[0] / 1000, cpu_us / 1000);
    }
    rss_after_pass.push_back(BrokerRssKb(o.broker_pid));
  }
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  char note[256];
  std::snprintf(note, sizeof note, "longest round trip %.1f ms (%s)", longest / 1000, longest_name.c_str());
  r.note = note;
  if (longest_cpu >= 0) {
    std::snprintf(note, sizeof note, "; longest broker thread %.1f ms (%s)", longest_cpu / 1000, longest_cpu_name.c_str());
    r.note += note;
  }
  if (rss_before > 0) {
    std::snprintf(note, sizeof note, "; broker RSS %.1f MB after setup, after passes", rss_before / 1024.0);
    r.note += note;
    for (long kb : rss_after_pass) {
      std::snprintf(note, sizeof note, " %.1f", kb / 1024.0);
      r.note += note;
    }
  }
  return r;
}

void Print(const Options& o, const std::vector<Result>& results) {
  std::vector<bool> is_echo;
  std::vector<double> rates;
  for (const auto& r : results) {
    is_echo.push_back(r.workload == "echo");
    rates.push_back(r.Throughput());
  }
  const std::vector<double> floors = mqdb::bench::EchoFloors(is_echo, rates);
  auto vs_echo = [&](size_t i) { return floors[i] > 0 ? rates[i] / floors[i] : 0.0; };
  if (o.format == "json") {
    std::printf("[");
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      std::printf("%s{\"workload\":\"%s\",\"concurrency\":%d,\"pipeline\":%d,\"ok\":%llu,\"errors\":%llu,"
                  "\"throughput\":%.1f,\"p50_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,\"vs_echo\":%.3f,"
                  "\"broker_us_per_req\":%.2f,\"process_us_per_req\":%.2f,\"note\":\"%s\"}",
                  i ? "," : "", r.workload.c_str(), r.concurrency, r.pipeline, static_cast<unsigned long long>(r.ok),
                  static_cast<unsigned long long>(r.errors), r.Throughput(), r.Pct(50), r.Pct(95), r.Pct(99),
                  vs_echo(i), r.broker_us, r.process_us, r.note.c_str());
    }
    std::printf("]\n");
    return;
  }
  bool csv = o.format == "csv";
  if (csv) std::printf("workload,concurrency,pipeline,ok,errors,throughput,p50_us,p95_us,p99_us,vs_echo,broker_us_per_req,process_us_per_req,note\n");
  else std::printf("%-11s %4s %4s %9s %7s %11s %9s %9s %9s %8s %9s %9s  %s\n", "workload", "conc", "pipe", "ok", "errors",
                   "req/s", "p50 us", "p95 us", "p99 us", "vs echo", "brk us/rq", "all us/rq", "note");
  auto cpu = [csv](double us) {  // "-" in the table when not measured, -1.00 in CSV
    char buf[32];
    if (us < 0 && !csv) std::snprintf(buf, sizeof buf, "-");
    else std::snprintf(buf, sizeof buf, "%.2f", us);
    return std::string(buf);
  };
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const char* fmt = csv ? "%s,%d,%d,%llu,%llu,%.1f,%.1f,%.1f,%.1f,%.3f,%s,%s,%s\n"
                          : "%-11s %4d %4d %9llu %7llu %11.1f %9.1f %9.1f %9.1f %8.3f %9s %9s  %s\n";
    std::printf(fmt, r.workload.c_str(), r.concurrency, r.pipeline, static_cast<unsigned long long>(r.ok),
                static_cast<unsigned long long>(r.errors), r.Throughput(), r.Pct(50), r.Pct(95), r.Pct(99),
                vs_echo(i), cpu(r.broker_us).c_str(), cpu(r.process_us).c_str(), r.note.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  if (!ParseArgs(argc, argv, o)) return 2;
  mosquitto_lib_init();
  std::vector<Result> results;
  std::vector<std::string> plan;
  // An echo run before and after every workload: each is compared with the faster of its two
  // neighbours (tools/echo_floor.h), so the machine's drift over the suite does not count as the plugin's.
  const std::vector<std::string> suite = {"echo", "insert", "echo", "get",   "echo", "update", "echo", "delete",
                                          "echo", "list",   "echo", "ilist", "echo", "mixed",  "echo"};
  if (o.workload == "suite") plan = suite;
  else if (o.workload == "all") {
    plan = suite;
    for (const char* w : {"queue", "changefeed", "unique", "cascade"}) plan.push_back(w);
  }
  else {
    for (size_t at = 0; at <= o.workload.size();) {  // a comma-separated list runs in that order
      size_t comma = std::min(o.workload.find(',', at), o.workload.size());
      plan.push_back(o.workload.substr(at, comma - at));
      at = comma + 1;
    }
  }
  if (std::find(plan.begin(), plan.end(), "ilist") != plan.end()) {
    // Added before any record exists, the index is maintained by every create: no back-fill to wait for.
    std::string r = AdminSetup(o, "$DB/_admin/index/" + o.entity + "/add", R"({"fields":["k"]})");
    if (r.find("\"state\":\"ready\"") == std::string::npos) {
      std::fprintf(stderr, "ilist: index on %s.k is not ready (%s): use a fresh entity or database\n", o.entity.c_str(),
                   r.c_str());
    }
  }
  // Live queries: N groups, each an equality filter on n. Their member is this connection, which stays
  // open (its deliveries queue in the broker) until the workloads are done.
  std::unique_ptr<Conn> live;
  if (o.live_queries > 0) {
    live = std::make_unique<Conn>(o, "bench-live-" + std::to_string(getpid()));
    Result r;
    int i = 0;
    live->Run(r, Clock::now() + std::chrono::minutes(5), [&](std::string& t, std::string& p) {
      if (i >= o.live_queries) return false;
      t = "$DB/_sub/subscribe";
      p = R"({"entity":")" + o.entity + R"(","group":"lq)" + std::to_string(i) + R"(","mode":"broadcast","filters":[{"field":"n","op":"eq","value":)" +
          std::to_string(i) + "}]}";
      ++i;
      return true;
    });
    if (r.ok != static_cast<uint64_t>(o.live_queries)) {
      std::fprintf(stderr, "live queries: %llu of %d subscribed (%s)\n", static_cast<unsigned long long>(r.ok), o.live_queries,
                   live->last_payloads.empty() ? "" : live->last_payloads.back().c_str());
    }
  }
  bool seeded = false;
  for (const auto& w : plan) {
    if (!seeded && (w == "get" || w == "update" || w == "list" || w == "ilist" || w == "mixed" || w == "hostile" ||
                    w == "replay")) {
      Seed(o);
      seeded = true;
    }
    const BrokerCpu before = SampleBrokerCpu(o.broker_pid);
    if (w == "changefeed") results.push_back(Changefeed(o));
    else if (w == "unique") results.push_back(Unique(o));
    else if (w == "cascade") results.push_back(Cascade(o));
    else if (w == "hostile") results.push_back(Hostile(o));
    else results.push_back(Workload(o, w));
    ChargeBrokerCpu(o, before, results.back());
  }
  Print(o, results);
  mosquitto_lib_cleanup();
  return 0;
}
