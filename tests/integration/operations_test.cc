// Operating the plugin: health, $SYS, configuration errors, exclusive database, clean shutdown.
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>

namespace mqdb::it {
namespace {

TEST(Operations, Health) {
  Broker broker({"node_id test-node"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "health");
  Json env = c.Request("$DB/_health", "");
  ASSERT_TRUE(IsOk(env));
  EXPECT_EQ(Str(Data(env), "status"), "healthy");
  EXPECT_EQ(Str(Data(env), "mode"), "standalone");
  EXPECT_EQ(Str(Data(env), "node_id"), "test-node");
  EXPECT_GE(Num(Data(env), "uptime_s"), 0);
}

TEST(Operations, SysTopicsArePublishedAsPlainNumbers) {
  Broker broker({"sys_interval 1"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "sys-writer");
  ASSERT_TRUE(IsOk(c.Request("$DB/sys/create", "{}")));
  ASSERT_TRUE(IsOk(c.Request("$DB/sys/create", "{}")));
  EXPECT_EQ(Code(c.Request("$DB/sys/nope", "")), 404);
  Client sub(broker, "sys-sub");
  sub.Subscribe("$SYS/broker/mqdb/#");
  const std::vector<std::string> fixed = {
      "requests/create", "requests/read",  "requests/update", "requests/delete", "requests/list",
      "requests/count",  "requests/admin", "errors/4xx",      "errors/5xx",      "latency/p50_us",
      "latency/p99_us",  "records",        "events/published", "events/retained", "events/oldest_sequence",
      "events/replayed", "outbox/pending", "outbox/dead",
      "storage/bytes",   "dedup/hits",     "consumer_groups/members", "storage/memory/memtables",
      "storage/memory/table_readers",      "storage/memory/block_cache", "storage/tombstones_skipped",
      "storage/range_compactions", "requests/total"};
  std::vector<std::string> names = fixed;
  for (const char* code : {"400", "401", "403", "404", "409", "410", "413", "429", "500", "503"}) {
    names.push_back(std::string("errors/") + code);
  }
  for (const char* op : {"create", "read", "update", "delete", "list", "count", "admin"}) {
    names.push_back(std::string("latency/") + op + "/p50_us");
    names.push_back(std::string("latency/") + op + "/p99_us");
  }
  std::map<std::string, std::string> values;
  // Wait for a publication that reflects both creates (retained copies may predate them).
  ASSERT_TRUE(WaitFor([&] {
    while (auto m = sub.Next(100ms)) values[m->topic.substr(std::string("$SYS/broker/mqdb/").size())] = m->payload;
    return values.size() == names.size() && values["records"] == "2" && values["events/published"] == "2";
  }, 10s)) << values.size();
  for (const auto& n : names) {
    ASSERT_TRUE(values.count(n)) << n;
    EXPECT_EQ(values[n].find_first_not_of("0123456789"), std::string::npos) << n << "=" << values[n];
  }
  EXPECT_EQ(values["requests/create"], "2");
  EXPECT_EQ(values["requests/read"], "1");
  EXPECT_EQ(values["errors/4xx"], "1");
  EXPECT_EQ(values["errors/404"], "1");
  EXPECT_EQ(values["errors/400"], "0");
  EXPECT_EQ(values["requests/total"], "3");
  EXPECT_NE(values["latency/create/p99_us"], "0");  // two creates were timed
  EXPECT_EQ(values["latency/update/p99_us"], "0");  // no update ran
  EXPECT_EQ(values["outbox/pending"], "0");
  EXPECT_EQ(values["events/retained"], "2");
  EXPECT_EQ(values["events/oldest_sequence"], "1");
  EXPECT_EQ(values["events/replayed"], "0");
}

// A queue-like entity (records created, then deleted) must not slow lists down for ever: the scan
// that steps over the deleted keys has their range compacted, and the next scan skips none.
TEST(Operations, ListsAfterManyDeletesGetTheDeletedKeysCompactedAway) {
  Broker broker({"sys_interval 1", "compact_after_tombstones 50"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "queue");
  for (int i = 0; i < 100; ++i) {
    std::string id = "t" + std::to_string(100 + i);
    ASSERT_TRUE(IsOk(c.Request("$DB/jobs/create", R"({"id":")" + id + R"("})")));
    ASSERT_TRUE(IsOk(c.Request("$DB/jobs/" + id + "/delete", "")));
  }
  ASSERT_TRUE(IsOk(c.Request("$DB/jobs/create", R"({"id":"u"})")));
  auto first_id = [&] {
    Json env = c.Request("$DB/jobs/list", R"({"limit":1})");
    const cJSON* first = cJSON_GetArrayItem(Data(env), 0);
    return first ? Str(first, "id") : std::string("none");
  };
  ASSERT_EQ(first_id(), "u");
  Client sub(broker, "sys-sub");
  sub.Subscribe("$SYS/broker/mqdb/#");
  std::map<std::string, std::string> v;
  auto read = [&] {
    while (auto m = sub.Next(100ms)) v[m->topic.substr(std::string("$SYS/broker/mqdb/").size())] = m->payload;
  };
  ASSERT_TRUE(WaitFor([&] { read(); return v["storage/range_compactions"] == "1"; }, 20s))
      << "tombstones skipped: " << v["storage/tombstones_skipped"];
  EXPECT_EQ(v["storage/tombstones_skipped"], "100");
  ASSERT_EQ(first_id(), "u");
  ASSERT_TRUE(WaitFor([&] { read(); return v["requests/list"] == "2"; }, 10s));
  EXPECT_EQ(v["storage/tombstones_skipped"], "100") << "the second list stepped over no deleted key";
  EXPECT_EQ(v["storage/range_compactions"], "1");
}

TEST(Operations, OutboxAdminTopicsAreForAdminUsersOnly) {
  Broker broker({"admin_users ops, admin"});
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client admin(broker, "the-admin", 5, true, "admin");
  Client user(broker, "a-user", 5, true, "mallory");
  Client anonymous(broker, "anon");
  ASSERT_TRUE(IsOk(user.Request("$DB/adm/create", R"({"id":"x"})")));
  for (Client* c : {&user, &anonymous}) {
    Json denied = c->Request("$DB/_admin/outbox/purge", R"({"all":true})");
    EXPECT_EQ(Code(denied), 403);
    EXPECT_EQ(MessageOf(denied), "forbidden: admin only");
  }
  Json pending = admin.Request("$DB/_admin/outbox", "");
  ASSERT_TRUE(IsOk(pending)) << Print(pending.get());
  EXPECT_TRUE(cJSON_IsArray(Data(pending)));  // delivered entries are not pending
  EXPECT_EQ(Print(Data(admin.Request("$DB/_admin/outbox/dead", ""))), "[]");
  EXPECT_EQ(Print(Data(admin.Request("$DB/_admin/outbox/retry", R"({"all":true})"))), R"({"retried":0})");
  EXPECT_EQ(Code(admin.Request("$DB/_admin/outbox/purge", R"({"operation_id":"nope"})")), 404);
  EXPECT_EQ(MessageOf(admin.Request("$DB/_admin/outbox/purge", "{}")), "outbox/purge needs \"operation_id\" or \"all\":true");
}

TEST(Operations, SecondBrokerOnTheSameDatabaseRefusesToStart) {
  Broker first;
  ASSERT_TRUE(first.Start()) << first.Log();
  Broker second({}, "", first.data_dir());
  EXPECT_FALSE(second.Start());
  EXPECT_NE(second.Log().find("is already in use by another process"), std::string::npos) << second.Log();
  Client c(first, "still-serving");
  EXPECT_TRUE(IsOk(c.Request("$DB/_health", "")));
}

TEST(Operations, UnknownOptionsAndBadValuesStopTheBroker) {
  Broker unknown({"db_pathh /tmp/x"});
  EXPECT_FALSE(unknown.Start());
  EXPECT_NE(unknown.Log().find("unknown option plugin_opt_db_pathh"), std::string::npos) << unknown.Log();
  Broker bad({"durability fast"});
  EXPECT_FALSE(bad.Start());
  EXPECT_NE(bad.Log().find("invalid value for plugin_opt_durability: 'fast'"), std::string::npos) << bad.Log();
}

TEST(Operations, CleanShutdownClosesTheDatabase) {
  Broker broker;
  ASSERT_TRUE(broker.Start()) << broker.Log();
  {
    Client c(broker, "shutdown");
    ASSERT_TRUE(IsOk(c.Request("$DB/sd/create", R"({"id":"x"})")));
  }
  broker.Stop();
  EXPECT_NE(broker.Log().find("mqdb: database closed"), std::string::npos) << broker.Log();
  ASSERT_TRUE(broker.Start()) << broker.Log();
  Client c(broker, "shutdown2");
  EXPECT_TRUE(IsOk(c.Request("$DB/sd/x", "")));
}

TEST(Operations, ExampleConfigurationIsValid) {
  // mosquitto.conf.example must load as shipped; start it on a free port in a scratch copy.
  Broker probe;
  std::ifstream in(std::string(MQDB_SOURCE_DIR) + "/mosquitto.conf.example");
  ASSERT_TRUE(in.good());
  std::string conf, line;
  while (std::getline(in, line)) {
    if (line.rfind("listener ", 0) == 0) line = "listener " + std::to_string(probe.port()) + " 127.0.0.1";
    if (line.rfind("plugin ", 0) == 0) line = std::string("plugin ") + MQDB_PLUGIN_PATH;
    if (line.rfind("plugin_opt_db_path ", 0) == 0) line = "plugin_opt_db_path " + probe.dir() + "/example-data";
    conf += line + "\n";
  }
  std::string path = probe.dir() + "/example.conf";
  std::ofstream(path) << conf;
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open((probe.dir() + "/example.log").c_str(), O_WRONLY | O_CREAT, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execl("/usr/sbin/mosquitto", "mosquitto", "-c", path.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  bool up = WaitFor([&] {
    try {
      Client c(probe, "example-probe");
      return IsOk(c.Request("$DB/_health", "", 1s));
    } catch (...) {
      return false;
    }
  }, 10s);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(up);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace mqdb::it
