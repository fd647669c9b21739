#include "plugin/service.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <thread>

#include "fault_sink.h"
#include "service_fixture.h"
#include "test_util.h"

namespace mqdb {
namespace {

class ServiceTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open(int dedup_window_s = 300, int rate_limit = 0, int64_t max_scan = 1000000) {
    Config c;
    c.dedup_window_s = dedup_window_s;
    c.rate_limit = rate_limit;
    c.max_scan = max_scan;
    c.store = {dir_.path(), Durability::kNone, 10};
    c.max_payload = 2048;
    c.admin_users = {"admin"};
    c.node_id = "n1";
    c.backup_dir = dir_.path() + "-backups";
    c.bench_echo = bench_echo_;
    svc_.reset();
    svc_ = std::move(Service::Open(c).value());
  }
  // A second node on its own database that shares this one's backups (dedup window 300 s).
  std::unique_ptr<Service> OpenAnotherNode(const test::TempDir& dir) {
    Config c;
    c.store = {dir.path(), Durability::kNone, 10};
    c.admin_users = {"admin"};
    c.node_id = "n2";
    c.backup_dir = dir_.path() + "-backups";
    return std::move(Service::Open(c).value());
  }
  Service::Reply Retry(const std::string& topic, const std::string& payload, const std::string& client,
                       const std::string& correlation, int qos = 1) {
    return svc_->Handle({topic, payload, client, "", correlation, qos});
  }
  std::string Text(const Service::Reply& r) { return r.envelope ? *r.envelope : Service::Envelope(r); }
  std::string Sys(const std::string& name) {
    for (auto& [k, v] : svc_->SysValues()) if (k == name) return v;
    return "?";
  }
  Service::Reply Call(const std::string& topic, const std::string& payload, const std::string& user = "") {
    return svc_->Handle({topic, payload, "client-1", user});
  }
  std::string Envelope(const std::string& topic, const std::string& payload) {
    return Service::Envelope(Call(topic, payload));
  }
  std::map<std::string, std::string> Everything() { return test::Everything(svc_->store()); }

  // A request that must be refused with exactly this code and message.
  struct Refusal {
    std::string topic, payload;
    int code;
    std::string message;
  };
  void ExpectRefused(const std::vector<Refusal>& cases, const std::string& user = "") {
    for (const auto& c : cases) {
      auto r = Call(c.topic, c.payload, user);
      EXPECT_TRUE(r.respond) << c.topic;
      EXPECT_EQ(r.status.code(), c.code) << c.topic << " " << c.payload.substr(0, 60);
      EXPECT_EQ(r.status.message(), c.message) << c.topic << " " << c.payload.substr(0, 60);
      EXPECT_EQ(r.ticket, 0u);
    }
  }

  test::TempDir dir_;
  bool bench_echo_ = false;
  std::unique_ptr<Service> svc_;
};

TEST_F(ServiceTest, ARetriedCreateExecutesOnceAndGetsTheSameResponse) {
  auto first = Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-1");
  auto second = Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-1");
  auto third = Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-1");
  ASSERT_TRUE(first.status.ok());
  EXPECT_EQ(Text(second), Text(first));
  EXPECT_EQ(Text(third), Text(first));
  EXPECT_EQ(svc_->store().EntityCount("orders"), 1);
  EXPECT_EQ(svc_->outbox().pending(), 1u) << "one event";
  EXPECT_EQ(Sys("dedup/hits"), "2");
  // Another client reusing the correlation data is a new request; so is another correlation.
  EXPECT_TRUE(Retry("$DB/orders/create", R"({"total":5})", "c2", "corr-1").status.ok());
  EXPECT_TRUE(Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-2").status.ok());
  EXPECT_EQ(svc_->store().EntityCount("orders"), 3);
  // MQTT 3.1.1 clients: request_id plays the same role.
  auto v3 = Retry("$DB/orders/create", R"({"request_id":"r-1"})", "c3", "");
  EXPECT_EQ(Text(Retry("$DB/orders/create", R"({"request_id":"r-1"})", "c3", "")), Text(v3));
  EXPECT_EQ(svc_->store().EntityCount("orders"), 4);
}

TEST_F(ServiceTest, ARetryAfterARestartWithinTheWindowIsNotExecutedAgain) {
  auto first = Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-1");
  ASSERT_TRUE(first.status.ok());
  Open();  // restart: the in-memory cache is gone, the response stored with the write is not
  auto again = Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-1");
  EXPECT_EQ(Text(again), Text(first));
  EXPECT_EQ(svc_->store().EntityCount("orders"), 1);
}

// Retry lookups skip storage for identities this process never stored; a restored backup holds
// responses it never saw, so after a restore they are looked up again.
TEST_F(ServiceTest, ARetryOfAWriteFromARestoredBackupIsNotExecutedAgain) {
  auto first = Retry("$DB/orders/create", R"({"total":5})", "c1", "corr-1");
  ASSERT_TRUE(first.status.ok());
  ASSERT_TRUE(Call("$DB/_admin/backup", R"({"name":"b1"})", "admin").status.ok());
  // Another node's database (empty, so its retry lookups skip storage) restores that backup.
  test::TempDir other;
  auto node2 = OpenAnotherNode(other);
  ASSERT_TRUE(node2->Handle({"$DB/_admin/restore", R"({"name":"b1"})", "ops", "admin"}).status.ok());
  auto again = node2->Handle({"$DB/orders/create", R"({"total":5})", "c1", "", "corr-1", 1});
  EXPECT_EQ(node2->store().EntityCount("orders"), 1) << "answered from the restored response";
  EXPECT_EQ(Text(again), Text(first));
}

// A record's expiry is honoured by a process that did not write it: after a restart, and after a
// restore into a database whose entity never had records with an expiry.
TEST_F(ServiceTest, RecordsExpireAfterARestartAndAfterARestore) {
  auto created = Call("$DB/sessions/create", R"({"id":"s1","ttl_secs":1})");
  ASSERT_TRUE(created.status.ok());
  Json sent = test::J(Text(created));
  const auto expires_s = GetNumber(cJSON_GetObjectItemCaseSensitive(sent.get(), "data"), "_expires_at");
  ASSERT_TRUE(expires_s.has_value()) << Text(created);
  const int64_t expires_ms = static_cast<int64_t>(*expires_s) * 1000;
  ASSERT_TRUE(Call("$DB/_admin/backup", R"({"name":"b1"})", "admin").status.ok());
  Open();  // a new process on the same database
  test::TempDir other;
  auto node2 = OpenAnotherNode(other);
  ASSERT_TRUE(node2->Handle({"$DB/sessions/create", R"({"id":"s9"})", "c2", ""}).status.ok());
  ASSERT_TRUE(node2->Handle({"$DB/sessions/s9", "", "c2", ""}).status.ok());  // read: no expiry known
  ASSERT_TRUE(node2->Handle({"$DB/_admin/restore", R"({"name":"b1"})", "ops", "admin"}).status.ok());
  // Until the expiry time (whole seconds) has passed: nothing here sweeps expired records.
  std::this_thread::sleep_until(std::chrono::system_clock::time_point(std::chrono::milliseconds(expires_ms + 1)));
  EXPECT_EQ(Call("$DB/sessions/s1", "").status.code(), 404);
  EXPECT_EQ(Envelope("$DB/sessions/list", "{}"), R"({"status":"ok","data":[]})");
  EXPECT_EQ(node2->Handle({"$DB/sessions/s1", "", "c2", ""}).status.code(), 404);
}

TEST_F(ServiceTest, QoS2RetransmissionsWithoutCorrelationExecuteOnce) {
  Retry("$DB/orders/create", R"({"total":1})", "c1", "", 2);
  Retry("$DB/orders/create", R"({"total":1})", "c1", "", 2);  // DUP: the callback runs again
  EXPECT_EQ(svc_->store().EntityCount("orders"), 1);
  Retry("$DB/orders/create", R"({"total":1})", "c1", "", 1);
  Retry("$DB/orders/create", R"({"total":1})", "c1", "", 1);  // QoS 1 without identity: executed each time
  EXPECT_EQ(svc_->store().EntityCount("orders"), 3);
}

TEST_F(ServiceTest, StoredResponsesExpireAfterTheWindow) {
  Open(1);
  Retry("$DB/orders/create", "{}", "c1", "corr-1");
  std::vector<std::string> values;
  auto stored = [&] {
    values.clear();
    svc_->store().Scan("dedup", [&](std::string_view, std::string_view v) { values.emplace_back(v); return true; });
    return values.size();
  };
  ASSERT_EQ(stored(), 1u) << "the response, with its expiry: no index entry";
  const int64_t expires = std::stoll(values[0].substr(0, values[0].find('\n')));
  EXPECT_GT(expires, NowMs());
  EXPECT_LE(expires, NowMs() + 1000);
  while (NowMs() <= expires) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the window is time
  Retry("$DB/orders/create", "{}", "c1", "corr-1");
  EXPECT_EQ(svc_->store().EntityCount("orders"), 2) << "after the window the same correlation is a new request";
  ASSERT_TRUE(svc_->store().CompactAll().ok());
  ASSERT_EQ(stored(), 1u) << "a compaction dropped the expired response; the new one stays";
  EXPECT_GT(std::stoll(values[0].substr(0, values[0].find('\n'))), expires);
}

TEST_F(ServiceTest, RateLimitIsPerClient) {
  Open(300, 5);
  int ok = 0, limited = 0;
  for (int i = 0; i < 20; ++i) {
    auto r = svc_->Handle({"$DB/_health", "", "greedy", "", "", 0});
    if (r.status.ok()) ++ok;
    else if (r.status.code() == 429) {
      ++limited;
      EXPECT_EQ(r.status.message(), "overloaded: more than 5 requests/s from this client");
    }
  }
  EXPECT_GE(ok, 5);
  EXPECT_LE(ok, 6);  // the burst, plus at most one token refilled meanwhile
  EXPECT_EQ(ok + limited, 20);
  EXPECT_TRUE(svc_->Handle({"$DB/_health", "", "polite", "", "", 0}).status.ok()) << "other clients are not starved";
}

TEST_F(ServiceTest, UnindexedQueriesHaveABoundedCost) {
  Open(300, 0, 10);
  for (int i = 0; i < 20; ++i) Call("$DB/big/create", R"({"v":)" + std::to_string(i % 2) + "}");
  auto r = Call("$DB/big/count", R"({"filters":[{"field":"v","op":"eq","value":1}]})");
  EXPECT_EQ(r.status.ToString(),
            "400 query examines more than 10 records (max_scan): add an index on a filtered field or narrow the filters");
  ASSERT_TRUE(Call("$DB/_admin/index/big/add", R"({"fields":["v"]})", "admin").status.ok());
  EXPECT_EQ(Service::Envelope(Call("$DB/big/count", R"({"filters":[{"field":"v","op":"eq","value":1}]})")),
            R"({"status":"ok","data":{"count":10}})")
      << "through the index only the 10 matches are examined";
  for (int i = 0; i < 8; ++i) Call("$DB/small/create", R"({"v":1})");
  EXPECT_EQ(Service::Envelope(Call("$DB/small/count", "")), R"({"status":"ok","data":{"count":8}})");
}

TEST_F(ServiceTest, BackupChangeRestoreGivesTheDataAsAtBackup) {
  const std::string admin = "admin";
  ASSERT_TRUE(Call("$DB/_admin/constraint/users/add", R"({"type":"unique","fields":["email"]})", admin).status.ok());
  Call("$DB/users/create", R"({"id":"a","email":"a@x"})");
  Call("$DB/users/create", R"({"id":"b","email":"b@x"})");
  auto backup = Call("$DB/_admin/backup", R"({"name":"nightly"})", admin);
  ASSERT_TRUE(backup.status.ok()) << backup.status.message();
  EXPECT_EQ(GetString(backup.data.get(), "name"), "nightly");
  EXPECT_GT(GetNumber(backup.data.get(), "size_bytes").value_or(0), 0);
  EXPECT_EQ(Call("$DB/_admin/backup", R"({"name":"nightly"})", admin).status.ToString(), "409 backup already exists: nightly");
  auto snapshot = Everything();

  Call("$DB/users/a/update", R"({"email":"changed@x"})");
  Call("$DB/users/b/delete", "");
  Call("$DB/users/create", R"({"id":"c","email":"b@x"})");
  ASSERT_TRUE(Call("$DB/_admin/constraint/users/remove", R"({"name":"unique_email"})", admin).status.ok());
  uint64_t seq_before_restore = svc_->store().last_seq();

  auto restored = Call("$DB/_admin/restore", R"({"name":"nightly"})", admin);
  ASSERT_TRUE(restored.status.ok()) << restored.status.message();
  EXPECT_EQ(Service::Envelope(Call("$DB/users/count", "")), R"({"status":"ok","data":{"count":2}})");
  EXPECT_EQ(GetString(test::Wire(Call("$DB/users/a", "").data.get()).get(), "email"), "a@x");
  EXPECT_EQ(Call("$DB/users/c", "").status.code(), 404);
  EXPECT_EQ(Call("$DB/users/create", R"({"email":"a@x"})").status.ToString(), "409 unique constraint violation: users.email")
      << "the constraint is back with the data";
  EXPECT_GE(svc_->store().last_seq(), seq_before_restore) << "sequences never go back";
  auto after = Everything();
  for (const auto& [k, v] : snapshot) {
    if (k.rfind("data/", 0) == 0 || k.rfind("uniq/", 0) == 0) {
      EXPECT_EQ(after[k], v) << k;
    }
  }
  auto list = Call("$DB/_admin/backup/list", "", admin);
  EXPECT_EQ(cJSON_GetArraySize(list.data.get()), 1);
  EXPECT_EQ(Call("$DB/_admin/restore", R"({"name":"nope"})", admin).status.ToString(), "404 not found: backup nope");
  EXPECT_EQ(Call("$DB/_admin/backup", R"({"name":"../x"})", admin).status.message(), "invalid backup name: 1-128 of A-Z a-z 0-9 _ -");
}

TEST_F(ServiceTest, CrudRoundTripWithEnvelopes) {
  auto created = Call("$DB/users/create", R"({"id":"u1","name":"Ann","request_id":"r1"})");
  ASSERT_TRUE(created.status.ok());
  EXPECT_GT(created.ticket, 0u);
  std::string env = Service::Envelope(created);
  EXPECT_EQ(env.rfind(R"({"status":"ok","data":{"id":"u1","name":"Ann","_version":1,)", 0), 0u) << env;
  EXPECT_NE(env.find(R"("request_id":"r1")"), std::string::npos);
  EXPECT_EQ(Envelope("$DB/users/u1", R"({"projection":["name"]})"), R"({"status":"ok","data":{"id":"u1","name":"Ann"}})");
  EXPECT_TRUE(Call("$DB/users/u1/update", R"({"name":"Bo"})").status.ok());
  EXPECT_EQ(Envelope("$DB/users/count", "{}"), R"({"status":"ok","data":{"count":1}})");
  EXPECT_EQ(Envelope("$DB/users/u1/delete", ""), R"({"status":"ok","data":{"id":"u1","deleted":true}})");
  EXPECT_EQ(Envelope("$DB/users/u1", ""), R"({"status":"error","code":404,"message":"not found: users/u1"})");
}

// Envelopes are assembled as text; they must equal the cJSON rendering of the same object.
TEST_F(ServiceTest, EnvelopesAreWhatCJsonPrints) {
  Service::Reply r;
  r.status = Status::BadRequest("bad \"x\"\n\x01 \xC3\xA9");
  r.request_id = "id\\\"\t";
  Json expect = NewObject();
  cJSON_AddStringToObject(expect.get(), "status", "error");
  cJSON_AddNumberToObject(expect.get(), "code", 400);
  cJSON_AddStringToObject(expect.get(), "message", r.status.message().c_str());
  cJSON_AddStringToObject(expect.get(), "request_id", r.request_id->c_str());
  EXPECT_EQ(Service::Envelope(r), Print(expect.get()));
  Service::Reply ok;
  ok.data = test::J(R"({"a":[1,2.5,-3e+40,"s"],"b":{"c":null,"d":true}})");
  Json expect_ok = NewObject();
  cJSON_AddStringToObject(expect_ok.get(), "status", "ok");
  cJSON_AddItemToObject(expect_ok.get(), "data", cJSON_Duplicate(ok.data.get(), true));
  EXPECT_EQ(Service::Envelope(ok), Print(expect_ok.get()));
}

TEST_F(ServiceTest, EchoAnswersOnlyWhenEnabledAndReturnsThePayloadAsAString) {
  EXPECT_EQ(Text(Call("$DB/_echo", "")),
            R"x({"status":"error","code":400,"message":"unknown request topic: $DB/_echo (enable plugin_opt_bench_echo)"})x");
  bench_echo_ = true;
  Open();
  EXPECT_EQ(Text(Call("$DB/_echo", "")), R"({"status":"ok","data":{}})");
  EXPECT_EQ(Text(Call("$DB/_echo", R"({"a":"x\y"})")), R"({"status":"ok","data":{"echo":"{\"a\":\"x\\y\"}"}})");
  EXPECT_EQ(Call("$DB/_echo", "\xff").status.code(), 400);
  EXPECT_EQ(svc_->store().record_count(), 0) << "nothing stored";
}

TEST_F(ServiceTest, BusyEchoHoldsTheThreadForItsTimeThenAnswersLikeEcho) {
  EXPECT_EQ(Text(Call("$DB/_echo/busy/5", "")),
            R"x({"status":"error","code":400,"message":"unknown request topic: $DB/_echo/busy/5 (enable plugin_opt_bench_echo)"})x");
  bench_echo_ = true;
  Open();
  // The busy time is a floor, never a ceiling: a lower bound holds on any machine, however loaded.
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(Text(Call("$DB/_echo/busy/3000", "")), R"({"status":"ok","data":{}})");
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::microseconds(3000));
  EXPECT_EQ(Text(Call("$DB/_echo/busy/1", "{}")), R"({"status":"ok","data":{"echo":"{}"}})");
  EXPECT_EQ(Call("$DB/_echo/busy/0", "").status.code(), 400);
  EXPECT_EQ(svc_->store().record_count(), 0) << "nothing stored";
}

TEST_F(ServiceTest, BadInputGetsSpecificErrorsAndStoresNothing) {
  ASSERT_TRUE(Call("$DB/users/create", R"({"id":"keep","v":1})").status.ok());
  auto before = Everything();
  ExpectRefused({
      {"$DB/users/create", "{bad", 400, "invalid JSON payload: object key (a string) expected at byte 1"},
      {"$DB/users/create", "[1]", 400, "payload must be a JSON object"},
      {"$DB/users/create", std::string(3000, ' '), 413, "payload too large: 3000 bytes (max 2048)"},
      {"$DB/users/create", "{\"a\":\"\xc3\x28\"}", 400, "invalid JSON payload: not valid UTF-8"},
      {"$DB/users/create", "{\"a\":" + std::string(70, '[') + std::string(70, ']') + "}", 400,
       "invalid JSON payload: nesting deeper than 64 levels at byte 68"},
      {"$DB/users/create", R"({"id":"keep"})", 409, "already exists: users/keep"},
      {"$DB/users/create", R"({"id":"a+b"})", 400, "invalid id: must not contain '/', '+', '#' or NUL"},
      {"$DB/users/create", R"({"ttl_secs":"soon"})", 400, "ttl_secs must be an integer between 1 and 3153600000"},
      {"$DB/_users/create", "{}", 400, "reserved entity name: _users"},
      {"$DB/us.ers/create", "{}", 400, "invalid entity name: only A-Z a-z 0-9 _ - allowed"},
      {"$DB/users/keep/update", R"({"v":2,"_version":7})", 409, "version conflict: users/keep (expected 7, current 1)"},
      {"$DB/users/keep/delete", R"({"_version":7})", 409, "version conflict: users/keep (expected 7, current 1)"},
      {"$DB/users/list", R"({"filters":[{"field":"v","op":"foo","value":1}]})", 400, "unknown filter op: foo"},
      {"$DB/users/keep/frobnicate", "{}", 400, "unknown operation: frobnicate (use update or delete)"},
      {"$DB/users/create", R"({"request_id":5})", 400, "request_id must be a string"},
      {"$DB/_admin/outbox/purge", R"({"all":true})", 403, "forbidden: admin only"},
  });
  EXPECT_EQ(Everything(), before) << "a rejected request must not change the database";
}

TEST_F(ServiceTest, AdminTopicsNeedAnAdminUser) {
  EXPECT_EQ(Call("$DB/_admin/outbox", "{}", "mallory").status.code(), 403);
  EXPECT_EQ(Call("$DB/_admin/outbox", "{}", "").status.code(), 403);
  EXPECT_TRUE(Call("$DB/_admin/outbox", "{}", "admin").status.ok());
  auto unknown = Call("$DB/_admin/frobnicate", "{}", "admin");
  EXPECT_EQ(unknown.status.message(), "unknown admin request: frobnicate");
}

TEST_F(ServiceTest, OutboxAdminRequests) {
  Call("$DB/users/create", R"({"id":"a"})");
  auto pending = Call("$DB/_admin/outbox", "", "admin");
  ASSERT_TRUE(pending.status.ok());
  EXPECT_EQ(cJSON_GetArraySize(pending.data.get()), 1);
  EXPECT_EQ(Service::Envelope(Call("$DB/_admin/outbox/dead", "", "admin")), R"({"status":"ok","data":[]})");
  EXPECT_EQ(Service::Envelope(Call("$DB/_admin/outbox/retry", R"({"all":true})", "admin")),
            R"({"status":"ok","data":{"retried":0}})");
  EXPECT_EQ(Service::Envelope(Call("$DB/_admin/outbox/purge", R"({"all":true})", "admin")),
            R"({"status":"ok","data":{"purged":0}})");
  EXPECT_EQ(Call("$DB/_admin/outbox/purge", R"({"operation_id":"x"})", "admin").status.message(),
            "not found: dead letter x");
  EXPECT_EQ(Call("$DB/_admin/outbox/retry", "{}", "admin").status.message(),
            "outbox/retry needs \"operation_id\" or \"all\":true");
  EXPECT_EQ(Call("$DB/_admin/outbox/retry", R"({"all":true,"operation_id":"x"})", "admin").status.message(),
            "outbox/retry takes operation_id or all, not both");
  EXPECT_EQ(Call("$DB/_admin/outbox/purge", R"({"everything":true})", "admin").status.message(),
            "unknown field in outbox/purge request: everything");
}

TEST_F(ServiceTest, NonRequestsGetNoResponse) {
  EXPECT_FALSE(Call("$DB/users/events/1", "{}").respond);
  EXPECT_FALSE(Call("$DB/_reply", "{}").respond);
  EXPECT_FALSE(Call("plain/topic", "{}").respond);
}

TEST_F(ServiceTest, HealthAndSysValues) {
  auto r = Call("$DB/_health", "");
  std::string env = Service::Envelope(r);
  EXPECT_EQ(env.rfind(R"({"status":"ok","data":{"status":"healthy","mode":"standalone","node_id":"n1","uptime_s":)", 0), 0u);
  Call("$DB/users/create", "{}");
  std::map<std::string, std::string> sys;
  for (auto& [k, v] : svc_->SysValues()) sys[k] = v;
  for (const char* name : {"requests/create", "requests/read", "requests/update", "requests/delete", "requests/list",
                           "requests/count", "requests/admin", "errors/4xx", "errors/5xx", "latency/p50_us",
                           "latency/p99_us", "records", "events/published", "outbox/pending", "outbox/dead",
                           "storage/bytes", "dedup/hits", "consumer_groups/members", "storage/memory/memtables",
                           "storage/memory/table_readers", "storage/memory/block_cache"}) {
    EXPECT_TRUE(sys.count(name)) << name;
  }
  EXPECT_EQ(sys["records"], "1");
  EXPECT_EQ(sys["outbox/pending"], "1");
}

TEST_F(ServiceTest, PumpPublishesOneEventPerWriteInOrder) {
  test::FaultSink sink;
  Call("$DB/users/create", R"({"id":"a"})");
  Call("$DB/users/a/update", R"({"x":1})");
  Call("$DB/users/a/delete", "");
  svc_->Pump({&sink});
  ASSERT_EQ(sink.delivered.size(), 3u);
  const char* ops[] = {"Create", "Update", "Delete"};
  for (int i = 0; i < 3; ++i) {
    Json ev = test::J(sink.delivered[i].payload);
    EXPECT_EQ(sink.delivered[i].topic, "$DB/users/events/a");
    EXPECT_EQ(GetString(ev.get(), "operation"), ops[i]);
    EXPECT_EQ(GetNumber(ev.get(), "sequence"), i + 1);
    EXPECT_EQ(sink.delivered[i].origin, "client-1");
  }
}

// PROTOCOL.md §1, idempotent retry: only the same client id, username, correlation, topic and payload
// bytes make a retry. Clients that count correlation data from 1 on every connection (or use a
// constant) get every request executed.
TEST_F(ServiceTest, ReusedCorrelationDataNeverReturnsAStaleAnswer) {
  auto d1 = svc_->Handle({"$DB/docs/create", R"({"id":"d1"})", "cl", "alice", "1", 1});
  auto d2 = svc_->Handle({"$DB/docs/create", R"({"id":"d2"})", "cl", "alice", "1", 1});
  ASSERT_TRUE(d1.status.ok());
  ASSERT_TRUE(d2.status.ok()) << Text(d2);
  EXPECT_NE(Text(d2).find("\"d2\""), std::string::npos) << Text(d2);
  EXPECT_EQ(svc_->store().EntityCount("docs"), 2);
  auto read = svc_->Handle({"$DB/docs/d2", "", "cl", "alice", "1", 1});
  EXPECT_NE(Text(read).find("\"id\":\"d2\""), std::string::npos) << "a read with the same correlation reads: " << Text(read);
  auto del = svc_->Handle({"$DB/docs/d1/delete", "", "cl", "alice", "1", 1});
  EXPECT_EQ(Text(del), R"({"status":"ok","data":{"id":"d1","deleted":true}})");
  auto list = svc_->Handle({"$DB/docs/list", "{}", "cl", "alice", "1", 1});
  EXPECT_EQ(Text(list).rfind(R"({"status":"ok","data":[)", 0), 0u) << "a list gets a list: " << Text(list);
  EXPECT_EQ(svc_->store().EntityCount("docs"), 1);
  // request_id (MQTT 3.1.1 clients) follows the same rule.
  auto r1 = svc_->Handle({"$DB/docs/create", R"({"id":"r1","request_id":"x"})", "cl", "alice", "", 1});
  auto r2 = svc_->Handle({"$DB/docs/create", R"({"id":"r2","request_id":"x"})", "cl", "alice", "", 1});
  ASSERT_TRUE(r1.status.ok());
  ASSERT_TRUE(r2.status.ok()) << Text(r2);
  EXPECT_EQ(svc_->store().EntityCount("docs"), 3);
  // The same bytes again are a retry: executed once.
  auto again = svc_->Handle({"$DB/docs/create", R"({"id":"r2","request_id":"x"})", "cl", "alice", "", 1});
  EXPECT_EQ(Text(again), Text(r2));
  EXPECT_EQ(Sys("dedup/hits"), "1");
}

// A stored response is never sent to a different username, even with the victim's client id and
// correlation data: the thief's request executes as its own request.
TEST_F(ServiceTest, AStoredResponseIsNeverSentToAnotherUser) {
  auto victim = svc_->Handle({"$DB/secrets/create", R"({"id":"s1","pin":"1234"})", "victim", "alice", "7", 1});
  ASSERT_TRUE(victim.status.ok());
  auto thief = svc_->Handle({"$DB/secrets/create", R"({"id":"s1","pin":"1234"})", "victim", "mallory", "7", 1});
  EXPECT_EQ(thief.status.code(), 409) << "executed, not replayed: " << Text(thief);
  EXPECT_EQ(Text(thief).find("1234"), std::string::npos);
  auto anon = svc_->Handle({"$DB/secrets/create", R"({"id":"s1","pin":"1234"})", "victim", "", "7", 1});
  EXPECT_EQ(anon.status.code(), 409);
  EXPECT_EQ(Sys("dedup/hits"), "0");
}

// A QoS 2 PUBLISH retransmitted with DUP reaches the plugin twice (Mosquitto 2.0.11): executed once
// and answered once while the first answer can still reach the client; a clean session that
// reconnected lost its queue and is answered again.
TEST_F(ServiceTest, AQos2RepeatIsExecutedOnceAndAnsweredOnce) {
  Service::Request req{"$DB/orders/create", R"({"total":5})", "q2", "", "c-1", 2, true};
  auto first = svc_->Handle(req);
  ASSERT_TRUE(first.status.ok());
  EXPECT_FALSE(first.already_answered);
  auto dup = svc_->Handle(req);
  EXPECT_TRUE(dup.respond);
  EXPECT_TRUE(dup.already_answered) << "same connection: not answered again";
  EXPECT_EQ(svc_->store().EntityCount("orders"), 1);
  // Without correlation data the content identifies it (10 s), with the same outcome.
  Service::Request bare{"$DB/orders/create", R"({"total":6})", "q2", "", "", 2, true};
  ASSERT_TRUE(svc_->Handle(bare).status.ok());
  EXPECT_TRUE(svc_->Handle(bare).already_answered);
  EXPECT_EQ(svc_->store().EntityCount("orders"), 2);
  // The clean session disconnects and reconnects: its queued answer died with it, so the repeat is
  // answered (from the stored response, not executed).
  svc_->ClientGone("q2", true);
  auto after = svc_->Handle(req);
  EXPECT_FALSE(after.already_answered);
  EXPECT_EQ(*after.envelope, Text(first));
  // A persistent session keeps its queued answer across the reconnect: not answered again.
  Service::Request persistent{"$DB/orders/create", R"({"total":7})", "q2p", "", "c-9", 2, false};
  ASSERT_TRUE(svc_->Handle(persistent).status.ok());
  svc_->ClientGone("q2p", false);
  EXPECT_TRUE(svc_->Handle(persistent).already_answered);
  EXPECT_EQ(svc_->store().EntityCount("orders"), 3);
  // QoS 1 repeats are answered each time (at-least-once), never executed twice.
  Service::Request q1{"$DB/orders/create", R"({"total":8})", "q1", "", "c-2", 1, true};
  auto a = svc_->Handle(q1), b = svc_->Handle(q1);
  EXPECT_FALSE(b.already_answered);
  EXPECT_EQ(Text(a), Text(b));
  EXPECT_EQ(svc_->store().EntityCount("orders"), 4);
}

// max_record_bytes holds for the record as stored, after an update's merge: 64 updates each adding
// a big field can no longer grow one record without bound.
TEST_F(ServiceTest, ARecordCannotOutgrowMaxRecordBytes) {
  Config c;
  c.store = {dir_.path() + "/big", Durability::kNone, 10};
  c.max_payload = 1 << 20;
  c.limits.max_record_bytes = 4096;
  c.limits.max_response_bytes = 10000;
  svc_.reset();
  svc_ = std::move(Service::Open(c).value());
  ASSERT_TRUE(Call("$DB/blobs/create", R"({"id":"b","a":")" + std::string(1500, 'x') + R"("})").status.ok());
  ASSERT_TRUE(Call("$DB/blobs/b/update", R"({"b":")" + std::string(1500, 'y') + R"("})").status.ok());
  auto before = Everything();
  auto grown = Call("$DB/blobs/b/update", R"({"c":")" + std::string(1500, 'z') + R"("})");
  EXPECT_EQ(grown.status.code(), 413);
  EXPECT_EQ(grown.status.message().rfind("record too large: blobs/b would be ", 0), 0u) << grown.status.message();
  EXPECT_NE(grown.status.message().find("(max_record_bytes 4096)"), std::string::npos);
  auto created = Call("$DB/blobs/create", R"({"id":"c","a":")" + std::string(5000, 'x') + R"("})");
  EXPECT_EQ(created.status.code(), 413);
  EXPECT_EQ(Everything(), before) << "nothing stored, no event staged";
  // A page over max_response_bytes is a 413 naming the limit, on every list path.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(Call("$DB/pages/create", "{\"id\":\"p" + std::to_string(i) + "\",\"n\":" + std::to_string(i) +
                                             ",\"a\":\"" + std::string(3000, 'x') + "\"}").status.ok());
  }
  for (const char* q : {"{}", R"({"filters":[{"field":"n","op":"gte","value":0}]})",
                        R"({"sort":[{"field":"n","direction":"desc"}]})", R"({"projection":["a"]})"}) {
    auto page = Call("$DB/pages/list", q);
    EXPECT_EQ(page.status.code(), 413) << q;
    EXPECT_EQ(page.status.message(), "response too large: the page would exceed 10000 bytes (max_response_bytes): "
                                     "lower limit or use a projection") << q;
  }
  for (const char* q : {R"({"limit":3})", R"({"projection":["n"]})", R"({"sort":[{"field":"n"}],"limit":2})"}) {
    EXPECT_TRUE(Call("$DB/pages/list", q).status.ok()) << q;
  }
}

// Each of these used to be accepted (and stored something surprising, or nothing reachable).
TEST_F(ServiceTest, HostileInputRoundTwoGetsSpecificErrorsAndStoresNothing) {
  auto before = Everything();
  ExpectRefused({
      {"$DB/users/create", R"({"id":"ab\u0000cd"})", 400, "invalid JSON payload: \\u0000 (NUL) not allowed in strings at byte 9"},
      {"$DB/users/create", R"({"id\u0000x":"evil"})", 400, "invalid JSON payload: \\u0000 (NUL) not allowed in strings at byte 4"},
      {"$DB/users/create", R"({"v":"a","request_id":"r\u0000x"})", 400, "invalid JSON payload: \\u0000 (NUL) not allowed in strings at byte 24"},
      {"$DB/users/create", R"({"v":1e400})", 400, "invalid JSON payload: number out of range (beyond IEEE double) at byte 5"},
      {"$DB/users/create", R"({"v":0123})", 400, "invalid JSON payload: leading zero in number at byte 5"},
      {"$DB/users/create", R"({"v":1.})", 400, "invalid JSON payload: digit expected after decimal point at byte 7"},
      {"$DB/users/create", "\xEF\xBB\xBF{}", 400, "invalid JSON payload: byte order mark not allowed at byte 0"},
      {"$DB/users/create", "{\"v\":\"a\x01\"}", 400, "invalid JSON payload: raw control character in string (escape it) at byte 7"},
      {"$DB/u/create", "{}", 400, "reserved entity name: u ($DB/u/... holds the owner event topics)"},
      {"$DB/u/x", "", 400, "reserved entity name: u ($DB/u/... holds the owner event topics)"},
      {"$DB/users/create", R"({"id":"events"})", 400, "reserved id: events ($DB/{entity}/events is not a record's topic)"},
      {"$DB/users/create", R"({"id":"list"})", 400, "reserved id: list ($DB/{entity}/list is not a record's topic)"},
      {"$DB/users/create", R"({"id":"count"})", 400, "reserved id: count ($DB/{entity}/count is not a record's topic)"},
      {"$DB/users/create", R"({"id":"create"})", 400, "reserved id: create ($DB/{entity}/create is not a record's topic)"},
      {"$DB/users/events", "", 400, "reserved id: events ($DB/{entity}/events is not a record's topic)"},
      {"$DB/users/list/delete", "", 400, "reserved id: list ($DB/{entity}/list is not a record's topic)"},
      {"$DB/users/list", R"({"filters":[{"field":"v","op":"like","value":")" + std::string(257, 'a') + R"("}]})", 400,
       "like pattern longer than 256 bytes: v"},
      {"$DB/users/list", R"({"projection":["a..b"]})", 400, "invalid field path in projection: a..b"},
      {"$DB/_admin/schema/users/set", R"({"fields":{"age":{"type":"number","default":"old"}}})", 400,
       "schema field age: default must be number (got string)"},
      {"$DB/_admin/schema/users/set", R"({"fields":{"n":{"type":"integer","default":1.5}}})", 400,
       "schema field n: default must be integer (got number)"},
      {"$DB/_admin/schema/users/set", R"({"fields":{"n":{"type":"string","required":true,"default":null}}})", 400,
       "schema field n: default null but the field is required"},
  }, "admin");
  EXPECT_EQ(Everything(), before) << "a rejected request must not change the database";
}

// Numbers keep their value on every path: stored, returned, in the event, and as a filter value.
TEST_F(ServiceTest, NumbersKeepTheirValueEverywhere) {
  ASSERT_TRUE(Call("$DB/nums/create",
                   R"({"id":"n","big":9007199254740991,"frac":0.30000000000000004,"max":1.7976931348623157e308,"tiny":5e-324})")
                  .status.ok());
  auto upd = Call("$DB/nums/n/update", R"({"max":1.7976931348623157e308,"neg":-9007199254740991})");
  ASSERT_TRUE(upd.status.ok());
  const std::string text = Text(Call("$DB/nums/n", ""));
  for (const char* want : {"\"big\":9007199254740991", "\"frac\":0.30000000000000004", "\"max\":1.7976931348623157e+308",
                           "\"tiny\":5e-324", "\"neg\":-9007199254740991"}) {
    EXPECT_NE(text.find(want), std::string::npos) << want << " in " << text;
  }
  for (const char* filter : {R"({"field":"big","op":"eq","value":9007199254740991})",
                             R"({"field":"frac","op":"eq","value":0.30000000000000004})",
                             R"({"field":"max","op":"gte","value":1.7976931348623157e308})",
                             R"({"field":"neg","op":"in","value":[-9007199254740991]})"}) {
    auto n = Call("$DB/nums/count", std::string(R"({"filters":[)") + filter + "]}");
    EXPECT_EQ(Text(n), R"({"status":"ok","data":{"count":1}})") << filter;
  }
  auto miss = Call("$DB/nums/count", R"({"filters":[{"field":"frac","op":"eq","value":0.3}]})");
  EXPECT_EQ(Text(miss), R"({"status":"ok","data":{"count":0}})") << "0.3 is another number";
  // The events carry the same text.
  test::FaultSink sink;
  svc_->Pump({&sink});
  ASSERT_GE(sink.delivered.size(), 2u);
  EXPECT_NE(sink.delivered[0].payload.find("\"big\":9007199254740991"), std::string::npos) << sink.delivered[0].payload;
  EXPECT_NE(sink.delivered[1].payload.find("\"max\":1.7976931348623157e+308"), std::string::npos);
}

}  // namespace
}  // namespace mqdb
