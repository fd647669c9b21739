// Hostile input, round 2, over a real broker (PROTOCOL.md §1 and §7): stale answers, confused
// deputies, forged traffic, a QoS 2 retransmission, a bridge's state topic, and requests that would
// hold the broker. Each test fails on the behaviour it replaces.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "harness.h"

namespace mqdb::it {
namespace {

// A minimal MQTT 3.1.1 client over a raw socket: the one way to send a PUBLISH twice with the same
// packet id and the DUP flag, as a client's network stack does after a lost PUBREC.
class RawMqtt {
 public:
  RawMqtt(int port, const std::string& client_id) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};  // every read is bounded
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    ok_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    std::string body = Str("MQTT") + '\x04' + '\x02' + '\x00' + '\x3c' + Str(client_id);
    Send(0x10, body);
    auto connack = Read();
    ok_ = ok_ && connack && connack->first == 0x20 && connack->second.size() == 2 && connack->second[1] == 0;
  }
  ~RawMqtt() { close(fd_); }
  bool ok() const { return ok_; }

  static std::string Str(const std::string& s) {
    return std::string{static_cast<char>(s.size() >> 8), static_cast<char>(s.size() & 0xFF)} + s;
  }
  static std::string Id(uint16_t mid) { return std::string{static_cast<char>(mid >> 8), static_cast<char>(mid & 0xFF)}; }

  void Send(uint8_t header, const std::string& body) {
    std::string packet(1, static_cast<char>(header));
    size_t n = body.size();
    do {
      uint8_t b = n % 128;
      n /= 128;
      packet.push_back(static_cast<char>(n ? b | 0x80 : b));
    } while (n);
    packet += body;
    ASSERT_EQ(write(fd_, packet.data(), packet.size()), static_cast<ssize_t>(packet.size()));
  }
  void Publish(const std::string& topic, const std::string& payload, int qos, uint16_t mid, bool dup) {
    Send(static_cast<uint8_t>(0x30 | (dup ? 0x08 : 0) | (qos << 1)), Str(topic) + (qos ? Id(mid) : "") + payload);
  }
  // The next packet (first byte, body); nullopt on timeout or a closed connection. Broker PUBLISHes
  // at QoS 1 are acknowledged here.
  std::optional<std::pair<uint8_t, std::string>> Read() {
    uint8_t header;
    if (!ReadExact(&header, 1)) return std::nullopt;
    size_t len = 0, mult = 1;
    for (uint8_t b = 0x80; b & 0x80; mult *= 128) {
      if (!ReadExact(&b, 1)) return std::nullopt;
      len += (b & 0x7F) * mult;
    }
    std::string body(len, '\0');
    if (len && !ReadExact(body.data(), len)) return std::nullopt;
    if ((header & 0xF0) == 0x30 && ((header >> 1) & 3) == 1) {
      size_t tlen = (static_cast<uint8_t>(body[0]) << 8) | static_cast<uint8_t>(body[1]);
      Send(0x40, body.substr(2 + tlen, 2));
    }
    return std::make_pair(header, body);
  }
  // The payload of a PUBLISH body.
  static std::string PayloadOf(uint8_t header, const std::string& body) {
    size_t tlen = (static_cast<uint8_t>(body[0]) << 8) | static_cast<uint8_t>(body[1]);
    return body.substr(2 + tlen + (((header >> 1) & 3) ? 2 : 0));
  }

 private:
  bool ReadExact(void* to, size_t n) {
    auto* p = static_cast<char*>(to);
    while (n > 0) {
      ssize_t got = read(fd_, p, n);
      if (got <= 0) return false;
      p += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  }
  int fd_ = -1;
  bool ok_ = false;
};

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()) << broker_.Log(); }
  Broker broker_{{"max_record_bytes 65536", "max_response_bytes 200000"}};
};

// Many clients count correlation data from 1 on every connection: each request must execute.
TEST_F(Hostile, ReusedCorrelationDataExecutesEveryRequest) {
  for (int connection = 0; connection < 2; ++connection) {
    Client c(broker_, "counter", 5);
    const std::string n = std::to_string(connection);
    auto a = c.RequestRaw("$DB/docs/create", R"({"id":"a)" + n + R"("})", "1");
    auto b = c.RequestRaw("$DB/docs/create", R"({"id":"b)" + n + R"("})", "1");
    ASSERT_TRUE(a && b);
    EXPECT_NE(a->payload.find("\"id\":\"a" + n + "\""), std::string::npos) << a->payload;
    EXPECT_NE(b->payload.find("\"id\":\"b" + n + "\""), std::string::npos) << "stale answer: " << b->payload;
    auto read = c.RequestRaw("$DB/docs/a" + n, "", "1");
    ASSERT_TRUE(read);
    EXPECT_NE(read->payload.find("\"id\":\"a" + n + "\""), std::string::npos) << read->payload;
    auto list = c.RequestRaw("$DB/docs/list", "{}", "1");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->payload.rfind(R"({"status":"ok","data":[)", 0), 0u) << "a list gets a list: " << list->payload;
  }
  Client check(broker_, "check");
  EXPECT_EQ(Num(Data(check.Request("$DB/docs/count", "{}")), "count"), 4);
}

// Another user connecting with the victim's client id and correlation data must not receive the
// victim's stored response: the request executes as the thief's own.
TEST_F(Hostile, AStoredResponseNeverReachesAnotherUser) {
  {
    Client victim(broker_, "shared-id", 5, true, "alice");
    auto r = victim.RequestRaw("$DB/secrets/create", R"({"id":"s1","pin":"8642"})", "c-1");
    ASSERT_TRUE(r);
    ASSERT_NE(r->payload.find("8642"), std::string::npos);
  }
  Client thief(broker_, "shared-id", 5, true, "mallory");
  auto stolen = thief.RequestRaw("$DB/secrets/create", R"({"id":"s1","pin":"8642"})", "c-1");
  ASSERT_TRUE(stolen);
  EXPECT_EQ(stolen->payload, R"({"status":"error","code":409,"message":"already exists: secrets/s1"})");
}

// Mosquitto 2.0.11 calls the plugin again for a QoS 2 PUBLISH resent with DUP and the same packet
// id: it must be executed once and answered once.
TEST_F(Hostile, AQos2RetransmissionIsAnsweredOnce) {
  RawMqtt raw(broker_.port(), "raw-qos2");
  ASSERT_TRUE(raw.ok());
  raw.Send(0x82, RawMqtt::Id(1) + RawMqtt::Str("$DB/_reply") + '\x01');
  auto suback = raw.Read();
  ASSERT_TRUE(suback && suback->first == 0x90);
  const std::string request = R"({"id":"once","request_id":"r1"})";
  raw.Publish("$DB/dup/create", request, 2, 7, false);
  raw.Publish("$DB/dup/create", request, 2, 7, true);  // the retransmission, before PUBREL
  raw.Send(0x62, RawMqtt::Id(7));                     // PUBREL
  raw.Publish("$DB/_health", R"({"request_id":"end"})", 1, 8, false);
  int answers = 0;
  bool end = false, pubcomp = false;
  for (int packets = 0; packets < 50 && !end; ++packets) {
    auto p = raw.Read();
    ASSERT_TRUE(p) << "connection closed or timed out";
    if ((p->first & 0xF0) == 0x70) pubcomp = true;
    if ((p->first & 0xF0) != 0x30) continue;
    std::string payload = RawMqtt::PayloadOf(p->first, p->second);
    if (payload.find("\"request_id\":\"r1\"") != std::string::npos) {
      ++answers;
      EXPECT_NE(payload.find("\"status\":\"ok\""), std::string::npos) << payload;
    }
    end = payload.find("\"request_id\":\"end\"") != std::string::npos;
  }
  EXPECT_TRUE(end);
  EXPECT_TRUE(pubcomp);
  EXPECT_EQ(answers, 1);
  Client check(broker_, "check");
  EXPECT_EQ(Num(Data(check.Request("$DB/dup/count", "{}")), "count"), 1);
}

// NUL and the number edge cases over the wire: 400s that store nothing; exact values stored,
// returned, published and matched.
TEST_F(Hostile, NulIsRefusedAndNumbersKeepTheirValueOverTheWire) {
  Client c(broker_, "numbers");
  for (const char* payload : {R"({"id":"ab\u0000cd"})", R"({"id\u0000x":"evil"})", R"({"v":"x","request_id":"a\u0000b"})",
                              R"({"v":1e400})", R"({"v":0123})", R"({"v":1.})", "{\"v\":\"raw\ttab\"}"}) {
    Json env = c.Request("$DB/edge/create", payload);
    EXPECT_EQ(Code(env), 400) << payload;
    EXPECT_EQ(MessageOf(env).rfind("invalid JSON payload: ", 0), 0u) << MessageOf(env);
  }
  EXPECT_EQ(Num(Data(c.Request("$DB/edge/count", "{}")), "count"), 0) << "nothing stored";
  Client sub(broker_, "numbers-sub");
  sub.Subscribe("$DB/edge/events/#");
  auto created = c.RequestRaw("$DB/edge/create", R"({"id":"n","big":9007199254740991,"f":0.30000000000000004})", "n1");
  ASSERT_TRUE(created);
  auto updated = c.RequestRaw("$DB/edge/n/update", R"({"max":1.7976931348623157e308})", "n2");
  ASSERT_TRUE(updated);
  auto read = c.RequestRaw("$DB/edge/n", "", "n3");
  ASSERT_TRUE(read);
  for (const Message* m : {&*created, &*read}) {
    EXPECT_NE(m->payload.find("\"big\":9007199254740991"), std::string::npos) << m->payload;
    EXPECT_NE(m->payload.find("\"f\":0.30000000000000004"), std::string::npos) << m->payload;
  }
  EXPECT_NE(read->payload.find("\"max\":1.7976931348623157e+308"), std::string::npos) << read->payload;
  auto events = sub.Collect("$DB/edge/events/#", 2);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_NE(events[0].payload.find("\"big\":9007199254740991"), std::string::npos) << events[0].payload;
  EXPECT_NE(events[1].payload.find("\"max\":1.7976931348623157e+308"), std::string::npos) << events[1].payload;
  Json found = c.Request("$DB/edge/count", R"({"filters":[{"field":"big","op":"eq","value":9007199254740991},)"
                                           R"({"field":"f","op":"eq","value":0.30000000000000004}]})");
  EXPECT_EQ(Num(Data(found), "count"), 1);
}

// Reserved names: an entity `u` would share the owner topics, ids create/list/count/events would be
// unreachable records.
TEST_F(Hostile, ReservedNamesAreRefused) {
  Client c(broker_, "names");
  // $DB/u/# is the plugin's alone: the broker refuses the publish before it becomes a request (the
  // plugin's 400 "reserved entity name: u" stands behind that, for brokers that let it through).
  EXPECT_FALSE(c.TryPublish("$DB/u/create", "{}"));
  for (const char* id : {"create", "list", "count", "events"}) {
    Json env = c.Request("$DB/things/create", std::string(R"({"id":")") + id + "\"}");
    EXPECT_EQ(MessageOf(env), std::string("reserved id: ") + id + " ($DB/{entity}/" + id + " is not a record's topic)");
  }
  EXPECT_EQ(Num(Data(c.Request("$DB/things/count", "{}")), "count"), 0);
}

// One client growing a record without bound used to hold the broker for seconds per update and end
// with an event larger than MQTT allows, after which the event subscriber received nothing more.
TEST_F(Hostile, ARecordCannotGrowPastMaxRecordBytesAndEventsKeepFlowing) {
  Client c(broker_, "grower");
  Client sub(broker_, "grower-sub");
  sub.Subscribe("$DB/blob/events/#");
  ASSERT_TRUE(IsOk(c.Request("$DB/blob/create", R"({"id":"b"})")));
  int accepted = 0, refused = 0;
  for (int i = 0; i < 8; ++i) {
    Json env = c.Request("$DB/blob/b/update", "{\"f" + std::to_string(i) + "\":\"" + std::string(15000, 'x') + "\"}");
    if (IsOk(env)) {
      ++accepted;
    } else {
      ++refused;
      EXPECT_EQ(Code(env), 413);
      EXPECT_NE(MessageOf(env).find("(max_record_bytes 65536)"), std::string::npos) << MessageOf(env);
    }
  }
  EXPECT_EQ(accepted, 4);
  EXPECT_EQ(refused, 4);
  EXPECT_EQ(Num(Data(c.Request("$DB/blob/b", "")), "_version"), 5);
  ASSERT_TRUE(IsOk(c.Request("$DB/blob/create", R"({"id":"after"})")));
  auto events = sub.Collect("$DB/blob/events/#", 6);
  ASSERT_EQ(events.size(), 6u) << "create, four updates, and the create after the refusals";
  EXPECT_EQ(events.back().topic, "$DB/blob/events/after");
}

// A page larger than max_response_bytes is a 413 before it is built; the client is answered and
// keeps being served.
TEST_F(Hostile, APageOverMaxResponseBytesIsA413AndTheClientIsStillServed) {
  Client c(broker_, "pager");
  for (int i = 0; i < 8; ++i) {
    ASSERT_TRUE(IsOk(c.Request("$DB/pages/create", "{\"n\":" + std::to_string(i) + ",\"a\":\"" + std::string(30000, 'p') + "\"}")));
  }
  for (const char* q : {"{}", R"({"sort":[{"field":"n","direction":"desc"}]})", R"({"filters":[{"field":"n","op":"gte","value":0}]})"}) {
    Json env = c.Request("$DB/pages/list", q);
    EXPECT_EQ(Code(env), 413) << q;
    EXPECT_EQ(MessageOf(env), "response too large: the page would exceed 200000 bytes (max_response_bytes): "
                              "lower limit or use a projection");
  }
  Json small = c.Request("$DB/pages/list", R"({"projection":["n"],"sort":[{"field":"n"}]})");
  ASSERT_TRUE(IsOk(small));
  EXPECT_EQ(cJSON_GetArraySize(Data(small)), 8);
}

// The largest `in` and `like` a request may carry are answered; one value or byte more is a 400.
TEST_F(Hostile, InAndLikeAreBoundedOverTheWire) {
  Client c(broker_, "bounded");
  ASSERT_TRUE(IsOk(c.Request("$DB/words/create", R"({"w":")" + std::string(20000, 'a') + R"("})")));
  std::string values;
  for (int i = 0; i < 1000; ++i) values += (i ? "," : "") + std::to_string(i);
  EXPECT_TRUE(IsOk(c.Request("$DB/words/count", R"({"filters":[{"field":"n","op":"in","value":[)" + values + "]}]}")));
  EXPECT_EQ(MessageOf(c.Request("$DB/words/count", R"({"filters":[{"field":"n","op":"in","value":[)" + values + ",-1]}]}")),
            "too many values for in (max 1000): n");
  Json like = c.Request("$DB/words/count", R"({"filters":[{"field":"w","op":"like","value":"*)" + std::string(254, 'a') + R"(b"}]})");
  EXPECT_EQ(Num(Data(like), "count"), 0);
  EXPECT_EQ(MessageOf(c.Request("$DB/words/count", R"({"filters":[{"field":"w","op":"like","value":"*)" + std::string(256, 'a') + R"("}]})")),
            "like pattern longer than 256 bytes: w");
}

// A bridge reports its state on $SYS/broker/connection/{id}/state (retained 1, and 0 as its will).
// The broker allows exactly this $SYS write; with the plugin loaded it must still arrive.
TEST(Bridge, ABridgesStateTopicReachesABrokerWithThePlugin) {
  Broker remote;  // with the plugin
  ASSERT_TRUE(remote.Start()) << remote.Log();
  Client watcher(remote, "watcher");
  watcher.Subscribe("$SYS/broker/connection/#");
  watcher.Subscribe("bridged/#");
  Broker local({}, "connection to-remote\naddress 127.0.0.1:" + std::to_string(remote.port()) +
                       "\nremote_clientid bridge-a\ntopic bridged/# out 1\nnotifications true\ncleansession true\n"
                       "restart_timeout 1\n");
  local.WithoutPlugin();
  ASSERT_TRUE(local.Start()) << local.Log();
  auto up = watcher.Collect("$SYS/broker/connection/bridge-a/state", 1, 10s);
  ASSERT_EQ(up.size(), 1u) << remote.Log();
  EXPECT_EQ(up[0].payload, "1");
  // Ordinary bridged traffic flows as without the plugin.
  Client device(local, "device");
  device.Publish("bridged/t", "42");
  auto got = watcher.Collect("bridged/#", 1, 10s);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].payload, "42");
  // The bridge's will: its state goes to 0 when the local broker dies.
  local.Kill();
  auto down = watcher.Collect("$SYS/broker/connection/bridge-a/state", 1, 10s);
  ASSERT_EQ(down.size(), 1u);
  EXPECT_EQ(down[0].payload, "0");
}

TEST(Startup, PerListenerSettingsIsRefusedWithTheReason) {
  Broker broker;
  broker.SetPrelude("per_listener_settings true");
  EXPECT_FALSE(broker.Start());
  EXPECT_NE(broker.Log().find("sets per_listener_settings true, under which Mosquitto 2.0.11 never runs"),
            std::string::npos) << broker.Log();
}

TEST(Startup, AnUnusableDbPathIsNamedAbsolutely) {
  Broker probe;
  const std::string file = probe.dir() + "/not-a-directory";
  std::ofstream(file) << "x";
  Broker broker({}, "", file + "/db");
  EXPECT_FALSE(broker.Start());
  EXPECT_NE(broker.Log().find("cannot create db_path " + file + "/db (as user "), std::string::npos) << broker.Log();
}

}  // namespace
}  // namespace mqdb::it
