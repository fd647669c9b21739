#include "plugin/acl.h"

#include <gtest/gtest.h>

#include "plugin/broker_config.h"

namespace mqdb {
namespace {

const AclSubject kUser{"alice", false, false};
const AclSubject kAdmin{"root", true, false};
const AclSubject kAnon{"", false, false};
const AclSubject kCluster{"peer", false, true};

TEST(Acl, SubscribeFiltersThatCouldMatchRequestsAreRefused) {
  for (const char* f : {"$DB/#", "$DB/+", "$DB/users/+", "$DB/+/create", "$DB/+/+", "$DB/+/+/#", "$DB/users/#",
                        "$DB/users/42", "$DB/users/42/update", "$DB/_admin/#", "$DB/_health", "$DB/_sub/+/events",
                        "$DB/_sub/subscribe", "$share/g/$DB/#", "$share/g/$DB/users/+", "$DB/u/bob/events/#",
                        "$DB/u/+/events/#", "$DB/_cluster/#", "$DB/#/events"}) {
    EXPECT_EQ(CheckSubscribe(f, kUser), AclVerdict::kDeny) << f;
  }
}

TEST(Acl, SubscribeToOutputsIsLeftToTheBroker) {
  for (const char* f : {"$DB/users/events/#", "$DB/+/events/#", "$DB/users/events/42", "$DB/+/events/+", "$DB/_reply",
                        "$DB/_sub/abc/events", "$DB/u/alice/events/#", "$share/g/$DB/users/events/#", "#", "a/b", "$SYS/#"}) {
    EXPECT_EQ(CheckSubscribe(f, kUser), AclVerdict::kFallback) << f;
  }
  EXPECT_EQ(CheckSubscribe("$DB/u/bob/events/#", kAdmin), AclVerdict::kFallback);
  EXPECT_EQ(CheckSubscribe("$DB/u/+/events/#", kAdmin), AclVerdict::kFallback);
  EXPECT_EQ(CheckSubscribe("$DB/u/alice/events/#", kAnon), AclVerdict::kDeny);
  EXPECT_EQ(CheckSubscribe("$DB/_cluster/#", kCluster), AclVerdict::kFallback);
}

TEST(Acl, OnlyThePluginWritesItsOutputs) {
  for (const char* t : {"$DB/users/events/1", "$DB/_reply", "$DB/u/alice/events/users/1", "$DB/_sub/x/events",
                        "$SYS/broker/mqdb/records", "$DB/_cluster/x"}) {
    EXPECT_EQ(CheckWrite(t, kAdmin), AclVerdict::kDeny) << t;
  }
  for (const char* t : {"$DB/users/create", "$DB/users/1", "$DB/_admin/catalog", "$DB/_health", "app/x"}) {
    EXPECT_EQ(CheckWrite(t, kUser), AclVerdict::kFallback) << t;
  }
  EXPECT_EQ(CheckWrite("$DB/_cluster/replicate", kCluster), AclVerdict::kFallback);
}

// Every topic that an event subscriber's $DB/+/events/# (or a $DB/u/... owner filter) can match is
// the plugin's alone, whatever the second level: `+` matches _admin, _cluster and any `_` name.
TEST(Acl, NoClientPublishCanReachAnEventSubscriber) {
  for (const char* t : {"$DB/_admin/events/x", "$DB/_admin/events/users/1", "$DB/_cluster/events/x", "$DB/_sub/events/x",
                        "$DB/_health/events/x", "$DB/_x/events/y/z", "$DB/-/events/1", "$DB//events/1", "$DB/u/alice",
                        "$DB/u/alice/events/x/1", "$DB/u/x/y/z"}) {
    for (const AclSubject* who : {&kAnon, &kUser, &kAdmin, &kCluster}) {
      EXPECT_EQ(CheckWrite(t, *who), AclVerdict::kDeny) << t << " as " << who->username;
    }
  }
}

// A bridge reports its state on $SYS/broker/connection/{id}/state: that write is the broker's to
// judge (its pre-check allows exactly this), so the plugin defers; every other $SYS write is denied.
TEST(Acl, BridgeStateTopicIsLeftToTheBroker) {
  EXPECT_EQ(CheckWrite("$SYS/broker/connection/br-1/state", kAnon), AclVerdict::kFallback);
  EXPECT_EQ(CheckWrite("$SYS/broker/connection/host.bridge/state", kUser), AclVerdict::kFallback);
  for (const char* t : {"$SYS/broker/connection//state", "$SYS/broker/connection/a/state/x", "$SYS/broker/connection/a",
                        "$SYS/broker/connection/a/status", "$SYS/broker/mqdb/records", "$SYS/x/connection/a/state"}) {
    EXPECT_EQ(CheckWrite(t, kAdmin), AclVerdict::kDeny) << t;
  }
}

TEST(Acl, RequestsAreNeverDelivered) {
  for (const char* t : {"$DB/users/create", "$DB/users/42", "$DB/users/events", "$DB/users/42/update", "$DB/_health",
                        "$DB/_admin/backup", "$DB/bad.name/create", "$DB/x", "$DB/u/alice/events"}) {
    EXPECT_EQ(CheckRead(t, kAdmin), AclVerdict::kDeny) << t;
  }
  EXPECT_EQ(CheckRead("$DB/users/events/42", kUser), AclVerdict::kFallback);
  EXPECT_EQ(CheckRead("$DB/u/alice/events/notes/1", kUser), AclVerdict::kFallback);
  EXPECT_EQ(CheckRead("$DB/u/bob/events/notes/1", kUser), AclVerdict::kDeny);
  EXPECT_EQ(CheckRead("$DB/u/bob/events/notes/1", kAdmin), AclVerdict::kFallback);
  EXPECT_EQ(CheckRead("app/x", kAnon), AclVerdict::kFallback);
}

TEST(BrokerConfig, DetectsOtherAclCheckers) {
  const std::string own = "/usr/lib/mosquitto/mosquitto_mqdb.so";
  EXPECT_FALSE(ConfigHasOtherAcl("listener 1883\nplugin ./build/mosquitto_mqdb.so\nplugin_opt_db_path x\n", own));
  EXPECT_FALSE(ConfigHasOtherAcl("# acl_file /etc/acl\npassword_file /etc/pw\n", own));
  EXPECT_TRUE(ConfigHasOtherAcl("acl_file /etc/mosquitto/acl\n", own));
  EXPECT_TRUE(ConfigHasOtherAcl("include_dir /etc/mosquitto/conf.d\n", own));
  EXPECT_TRUE(ConfigHasOtherAcl("plugin /usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so\n", own));
  EXPECT_TRUE(ConfigHasOtherAcl("auth_plugin /x/other.so\n", own));
}

TEST(BrokerConfig, DetectsPerListenerSettings) {
  EXPECT_FALSE(ConfigHasPerListenerSettings("listener 1883\nplugin x.so\n"));
  EXPECT_TRUE(ConfigHasPerListenerSettings("per_listener_settings true\nlistener 1883\n"));
  EXPECT_FALSE(ConfigHasPerListenerSettings("per_listener_settings false\n"));
  EXPECT_FALSE(ConfigHasPerListenerSettings("# per_listener_settings true\n"));
  EXPECT_FALSE(ConfigHasPerListenerSettings("per_listener_settings true\nper_listener_settings false\n"));
}

}  // namespace
}  // namespace mqdb
