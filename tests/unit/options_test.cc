#include "plugin/options.h"

#include <gtest/gtest.h>

namespace mqdb {
namespace {

using Opts = std::vector<std::pair<std::string, std::string>>;

TEST(Options, Defaults) {
  auto c = ParseOptions({});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->store.path, "mqdb-data");
  EXPECT_EQ(c->store.durability, Durability::kPeriodic);
  EXPECT_EQ(c->store.durability_ms, 10);
  EXPECT_EQ(c->max_payload, 4u << 20);
  EXPECT_EQ(c->sys_interval_s, 10);
  EXPECT_EQ(c->store.compact_after_tombstones, 256u);
  EXPECT_TRUE(c->reuse_freed_memory);
  EXPECT_FALSE(c->node_id.empty());
}

TEST(Options, AllOptions) {
  auto c = ParseOptions({{"db_path", "/tmp/x"}, {"durability", "immediate"}, {"durability_ms", "25"},
                         {"admin_users", "root, ops"}, {"max_payload", "1024"}, {"sys_interval", "0"},
                         {"node_id", "n1"}, {"outbox_retry_ms", "50"}, {"outbox_max_retries", "3"},
                         {"backup_dir", "/tmp/b"}, {"cluster_user", "peer"}, {"acl_fallback", "defer"},
                         {"dedup_window_s", "60"}, {"ownership", "notes=owner, docs = author"}, {"rate_limit", "100"},
                         {"max_inflight", "7"}, {"max_scan", "5000"}, {"group_timeout_s", "9"}, {"bench_echo", "true"},
                         {"block_cache_mb", "128"}, {"compact_after_tombstones", "0"},
                         {"reuse_freed_memory", "false"}});
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->backup_dir, "/tmp/b");
  EXPECT_EQ(c->cluster_user, "peer");
  EXPECT_EQ(c->acl_fallback, Config::AclFallback::kDefer);
  EXPECT_EQ(c->dedup_window_s, 60);
  EXPECT_EQ(c->ownership, (std::map<std::string, std::string>{{"notes", "owner"}, {"docs", "author"}}));
  EXPECT_EQ(c->rate_limit, 100);
  EXPECT_EQ(c->max_inflight, 7);
  EXPECT_EQ(c->max_scan, 5000);
  EXPECT_EQ(c->group_timeout_s, 9);
  EXPECT_TRUE(c->bench_echo);
  EXPECT_FALSE(c->reuse_freed_memory);
  EXPECT_EQ(c->store.durability, Durability::kImmediate);
  EXPECT_EQ(c->store.durability_ms, 25);
  EXPECT_EQ(c->store.block_cache_mb, 128);
  EXPECT_EQ(c->store.compact_after_tombstones, 0u);
  EXPECT_EQ(c->admin_users, (std::vector<std::string>{"root", "ops"}));
  EXPECT_EQ(c->max_payload, 1024u);
  EXPECT_EQ(c->sys_interval_s, 0);
  EXPECT_EQ(c->node_id, "n1");
  EXPECT_EQ(c->outbox.retry_ms, 50);
  EXPECT_EQ(c->outbox.max_retries, 3);
}

TEST(Options, ErrorsNameTheOption) {
  auto unknown = ParseOptions({{"db_pth", "x"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().message().rfind("unknown option plugin_opt_db_pth", 0), 0u);
  EXPECT_EQ(ParseOptions({{"durability", "sometimes"}}).status().message(),
            "invalid value for plugin_opt_durability: 'sometimes' (expected periodic, immediate or none)");
  for (const char* v : {"0", "-1", "abc", "10x", "60001"}) {
    auto r = ParseOptions({{"durability_ms", v}});
    ASSERT_FALSE(r.ok()) << v;
    EXPECT_NE(r.status().message().find("plugin_opt_durability_ms"), std::string::npos);
  }
  EXPECT_FALSE(ParseOptions({{"max_payload", "0"}}).ok());
  EXPECT_FALSE(ParseOptions({{"admin_users", "a,,b"}}).ok());
  EXPECT_FALSE(ParseOptions({{"node_id", "a/b"}}).ok());
  EXPECT_EQ(ParseOptions({{"db_path", "a"}, {"db_path", "b"}}).status().message(), "option plugin_opt_db_path is given twice");
  EXPECT_FALSE(ParseOptions({{"ownership", "notes"}}).ok());
  EXPECT_FALSE(ParseOptions({{"ownership", "notes=_x"}}).ok());
  EXPECT_FALSE(ParseOptions({{"bench_echo", "yes"}}).ok());
  EXPECT_FALSE(ParseOptions({{"reuse_freed_memory", "1"}}).ok());
  EXPECT_FALSE(ParseOptions({{"acl_fallback", "maybe"}}).ok());
  EXPECT_FALSE(ParseOptions({{"compact_after_tombstones", "-1"}}).ok());
}

}  // namespace
}  // namespace mqdb
