#include "plugin/request.h"

#include <gtest/gtest.h>

namespace mqdb {
namespace {

TEST(RequestTopic, Operations) {
  EXPECT_EQ(ParseTopic("$DB/users/create").kind, RequestKind::kCreate);
  EXPECT_EQ(ParseTopic("$DB/users/list").kind, RequestKind::kList);
  EXPECT_EQ(ParseTopic("$DB/users/count").kind, RequestKind::kCount);
  auto read = ParseTopic("$DB/users/42");
  EXPECT_EQ(read.kind, RequestKind::kRead);
  EXPECT_EQ(read.entity, "users");
  EXPECT_EQ(read.id, "42");
  EXPECT_EQ(ParseTopic("$DB/users/42/update").kind, RequestKind::kUpdate);
  EXPECT_EQ(ParseTopic("$DB/users/42/delete").kind, RequestKind::kDelete);
  EXPECT_EQ(ParseTopic("$DB/_health").kind, RequestKind::kHealth);
  auto admin = ParseTopic("$DB/_admin/schema/users/get");
  EXPECT_EQ(admin.kind, RequestKind::kAdmin);
  EXPECT_EQ(admin.admin_path, "schema/users/get");
}

TEST(RequestTopic, OutputTopicsAreNotRequests) {
  for (const char* t : {"other/topic", "$SYS/x", "$DB/_reply", "$DB/users/events/42", "$DB/u/alice/events/users/1",
                        "$DB/_sub/abc/events", "$DB/_cluster/x/y"}) {
    EXPECT_EQ(ParseTopic(t).kind, RequestKind::kNotARequest) << t;
  }
}

TEST(RequestTopic, InvalidTopicsExplainThemselves) {
  auto t = ParseTopic("$DB/users");
  EXPECT_EQ(t.kind, RequestKind::kInvalid);
  EXPECT_EQ(t.error.message(), "unknown request topic: $DB/users");
  EXPECT_EQ(ParseTopic("$DB/users/1/2/3").error.message(), "unknown request topic: $DB/users/1/2/3");
  EXPECT_EQ(ParseTopic("$DB/users/1/patch").error.message(), "unknown operation: patch (use update or delete)");
  EXPECT_EQ(ParseTopic("$DB/_users/create").error.message(), "reserved entity name: _users");
  EXPECT_EQ(ParseTopic("$DB/us.ers/create").error.code(), 400);
  EXPECT_EQ(ParseTopic("$DB//create").error.message(), "invalid entity name: empty");
  EXPECT_EQ(ParseTopic("$DB/users//update").error.message(), "invalid id: empty");
  EXPECT_EQ(ParseTopic("$DB/users/" + std::string(513, 'x')).error.message(), "invalid id: longer than 512 bytes");
}

TEST(RequestTopic, BusyEchoTakesOneToTenThousandMicrosecondsSpelledOneWay) {
  EXPECT_EQ(ParseTopic("$DB/_echo").busy_us, 0);
  auto t = ParseTopic("$DB/_echo/busy/25");
  EXPECT_EQ(t.kind, RequestKind::kEcho);
  EXPECT_EQ(t.busy_us, 25);
  EXPECT_EQ(ParseTopic("$DB/_echo/busy/10000").busy_us, kMaxBusyUs);
  for (const char* bad : {"$DB/_echo/busy/0", "$DB/_echo/busy/10001", "$DB/_echo/busy/99999", "$DB/_echo/busy/025",
                          "$DB/_echo/busy/-5", "$DB/_echo/busy/+5", "$DB/_echo/busy/5x", "$DB/_echo/busy/",
                          "$DB/_echo/busy/123456", "$DB/_echo/busy", "$DB/_echo/x", "$DB/_echo/busy/5/x", "$DB/_echo/"}) {
    auto b = ParseTopic(bad);
    EXPECT_EQ(b.kind, RequestKind::kInvalid) << bad;
    EXPECT_EQ(b.error.message(), std::string("unknown request topic: ") + bad + " (use $DB/_echo or $DB/_echo/busy/{1-10000})");
  }
}

}  // namespace
}  // namespace mqdb
