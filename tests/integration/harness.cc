#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace mqdb::it {

namespace {

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  close(fd);
  return ok;
}

// Paho C never sets TCP_NODELAY on its sockets, so every sequential request would pay ~43 ms of
// Nagle + delayed ACK on the client side (measured). Set it on our connections to the broker's port.
void EnableNoDelay(int port) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 || peer.sin_family != AF_INET) continue;
    if (ntohs(peer.sin_port) != port) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
}

Message FromPaho(const mqtt::const_message_ptr& m) {
  Message out;
  out.topic = m->get_topic();
  out.payload = m->to_string();
  out.retained = m->is_retained();
  const auto& props = m->get_properties();
  if (props.contains(mqtt::property::CORRELATION_DATA)) {
    out.correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
  }
  size_t n = props.count(mqtt::property::USER_PROPERTY);
  for (size_t i = 0; i < n; ++i) {
    auto pair = mqtt::get<mqtt::string_pair>(props, mqtt::property::USER_PROPERTY, i);
    out.user_properties.emplace_back(std::get<0>(pair), std::get<1>(pair));
  }
  return out;
}

}  // namespace

bool TopicMatches(const std::string& filter, const std::string& topic) {
  size_t f = 0, t = 0;
  while (f < filter.size()) {
    size_t fe = filter.find('/', f), te = topic.find('/', t);
    std::string fl = filter.substr(f, fe == std::string::npos ? std::string::npos : fe - f);
    if (fl == "#") return true;
    if (t > topic.size()) return false;
    std::string tl = topic.substr(t, te == std::string::npos ? std::string::npos : te - t);
    if (fl != "+" && fl != tl) return false;
    if ((fe == std::string::npos) != (te == std::string::npos)) {
      // "a/#" also matches "a"
      return fe != std::string::npos && filter.substr(fe + 1) == "#";
    }
    if (fe == std::string::npos) return true;
    f = fe + 1;
    t = te + 1;
  }
  return false;
}

Json Message::Parsed() const {
  Json j(cJSON_ParseWithLength(payload.data(), payload.size()));
  EXPECT_TRUE(j) << "not JSON: " << payload;
  return j ? std::move(j) : NewObject();
}

Broker::Broker(std::vector<std::string> plugin_opts, std::string extra_conf, std::string data_dir)
    : plugin_opts_(std::move(plugin_opts)), extra_conf_(std::move(extra_conf)) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "mqdb-it-XXXXXX").string();
  dir_ = mkdtemp(tmpl.data());
  data_dir_ = data_dir.empty() ? dir_ + "/data" : data_dir;
  port_ = FreePort();
}

Broker::~Broker() {
  if (pid_ > 0) Stop();  // a clean shutdown in every test (and a complete report under valgrind)
  if (owns_dir_) std::filesystem::remove_all(dir_);
}

// "@DIR@" in extra configuration stands for the broker's own temporary directory.
std::string Broker::ReplaceDir(std::string text) const {
  for (size_t at; (at = text.find("@DIR@")) != std::string::npos;) text.replace(at, 5, dir_);
  return text;
}

void Broker::WriteConf() {
  std::ofstream conf(conf_path());
  conf << prelude_ << "\n"
       << "listener " << port_ << " 127.0.0.1\n"
       << "allow_anonymous true\n"
       << "set_tcp_nodelay true\n"
       << "user root\n"  // ignored unless started as root; keeps the temp dir writable then
       << "log_type all\n"
       << ReplaceDir(extra_conf_) << "\n";
  if (!plugin_) return;
  conf << "plugin " << MQDB_PLUGIN_PATH << "\n"
       << "plugin_opt_db_path " << data_dir_ << "\n";
  for (const auto& o : plugin_opts_) conf << "plugin_opt_" << o << "\n";
}

bool Broker::Start() {
  WriteConf();
  std::string log = dir_ + "/broker.log";
  pid_ = fork();
  if (pid_ == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test process
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::string conf = conf_path();
    // MQDB_BROKER_WRAPPER (e.g. "valgrind --leak-check=full --error-exitcode=99") runs the broker under a tool.
    if (const char* wrapper = getenv("MQDB_BROKER_WRAPPER"); wrapper && *wrapper) {
      std::string cmd = std::string("exec ") + wrapper + " /usr/sbin/mosquitto -c " + conf;
      execl("/bin/sh", "sh", "-c", cmd.c_str(), static_cast<char*>(nullptr));
    }
    execl("/usr/sbin/mosquitto", "mosquitto", "-c", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  auto end = std::chrono::steady_clock::now() + (getenv("MQDB_BROKER_WRAPPER") ? 120s : 15s);
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    if (Accepts(port_)) return true;
    std::this_thread::sleep_for(5ms);
  }
  return false;
}

int Broker::WaitExit(std::chrono::milliseconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (pid_ > 0 && std::chrono::steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(5ms);
  }
  return -1;
}

void Broker::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (WaitExit(20s) == -1) Kill();
}

void Broker::Kill() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string Broker::Log() const {
  std::ifstream in(dir_ + "/broker.log");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Client::Client(const Broker& broker, std::string client_id, int mqtt_version, bool clean, const std::string& username,
               const std::string& password)
    : id_(std::move(client_id)), reply_topic_("test/replies/" + id_), version_(mqtt_version) {
  cli_ = std::make_unique<mqtt::async_client>(broker.uri(), id_,
                                              mqtt::create_options(version_ == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1));
  auto builder = mqtt::connect_options_builder().keep_alive_interval(30s);
  if (!username.empty()) builder.user_name(username);
  if (!password.empty()) builder.password(password);
  if (version_ == 5) {
    builder.mqtt_version(MQTTVERSION_5).clean_start(clean);
    if (!clean) builder.properties({{mqtt::property::SESSION_EXPIRY_INTERVAL, 3600}});
  } else {
    builder.mqtt_version(MQTTVERSION_3_1_1).clean_session(clean);
  }
  cli_->start_consuming();
  cli_->connect(builder.finalize())->wait();
  EnableNoDelay(broker.port());
  if (version_ == 5) Subscribe(reply_topic_, 1);
}

Client::~Client() {
  try {
    if (cli_->is_connected()) cli_->disconnect()->wait_for(2s);
  } catch (...) {
  }
}

void Client::Disconnect() { cli_->disconnect()->wait(); }

bool Client::TrySubscribe(const std::string& filter, int qos) {
  try {
    auto tok = cli_->subscribe(filter, qos);
    tok->wait();
    return tok->get_reason_code() < 0x80;
  } catch (const mqtt::exception&) {
    return false;  // Paho throws when the broker refuses the filter (SUBACK 0x87 / 0x80)
  }
}

void Client::Subscribe(const std::string& filter, int qos) {
  ASSERT_TRUE(TrySubscribe(filter, qos)) << "subscribe refused: " << filter;
}

void Client::Publish(const std::string& topic, const std::string& payload, int qos, bool retain,
                     const std::string& response_topic, const std::string& correlation) {
  mqtt::properties props;
  if (!response_topic.empty()) props.add({mqtt::property::RESPONSE_TOPIC, response_topic});
  if (!correlation.empty()) props.add({mqtt::property::CORRELATION_DATA, correlation});
  auto msg = mqtt::message_ptr_builder().topic(topic).payload(payload).qos(qos).retained(retain).properties(props).finalize();
  cli_->publish(msg)->wait();
}

bool Client::TryPublish(const std::string& topic, const std::string& payload) {
  try {
    auto tok = cli_->publish(mqtt::message_ptr_builder().topic(topic).payload(payload).qos(1).finalize());
    tok->wait();
    return tok->get_reason_code() < 0x80;
  } catch (const mqtt::exception&) {
    return false;
  }
}

std::optional<Message> Client::Next(std::chrono::milliseconds limit) {
  if (!stash_.empty()) {
    Message m = std::move(stash_.front());
    stash_.erase(stash_.begin());
    return m;
  }
  auto m = cli_->try_consume_message_for(limit);
  if (!m) return std::nullopt;
  return FromPaho(m);
}

std::vector<Message> Client::Collect(const std::string& filter, size_t n, std::chrono::milliseconds limit) {
  std::vector<Message> out, keep;
  for (auto& m : stash_) (TopicMatches(filter, m.topic) && out.size() < n ? out : keep).push_back(std::move(m));
  stash_ = std::move(keep);
  auto end = std::chrono::steady_clock::now() + limit;
  while (out.size() < n) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    mqtt::const_message_ptr m;
    if (left.count() <= 0) {
      if (!cli_->try_consume_message(&m)) break;  // out of time: take only what already arrived
    } else {
      m = cli_->try_consume_message_for(left);
    }
    if (!m) break;
    Message msg = FromPaho(m);
    if (TopicMatches(filter, msg.topic)) out.push_back(std::move(msg));
    else stash_.push_back(std::move(msg));
  }
  return out;
}

std::optional<Message> Client::RequestRaw(const std::string& topic, const std::string& payload,
                                          const std::string& correlation, std::chrono::milliseconds limit) {
  Publish(topic, payload, 1, false, reply_topic_, correlation);
  auto end = std::chrono::steady_clock::now() + limit;
  for (size_t i = 0; i < stash_.size(); ++i) {
    if (stash_[i].topic == reply_topic_ && stash_[i].correlation == correlation) {
      Message m = std::move(stash_[i]);
      stash_.erase(stash_.begin() + static_cast<long>(i));
      return m;
    }
  }
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = cli_->try_consume_message_for(left);
    if (!m) return std::nullopt;
    Message msg = FromPaho(m);
    if (msg.topic == reply_topic_ && msg.correlation == correlation) return msg;
    stash_.push_back(std::move(msg));
  }
}

Json Client::Request(const std::string& topic, const std::string& payload, std::chrono::milliseconds limit) {
  // Unique per client object too: a test that recreates a client id after a restart must not repeat
  // correlation data (the plugin would, rightly, answer with the stored response).
  static std::atomic<uint64_t> objects{0};
  if (nonce_.empty()) nonce_ = std::to_string(++objects) + "." + std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
  std::string corr = id_ + "-" + nonce_ + "-" + std::to_string(++next_corr_);
  auto m = RequestRaw(topic, payload, corr, limit);
  EXPECT_TRUE(m) << "no response to " << topic << " " << payload.substr(0, 100);
  if (!m) return NewObject();
  return m->Parsed();
}

bool IsOk(const Json& env) { return Str(env.get(), "status") == "ok"; }
int Code(const Json& env) { return static_cast<int>(Num(env.get(), "code")); }
std::string MessageOf(const Json& env) { return Str(env.get(), "message"); }
const cJSON* Data(const Json& env) { return cJSON_GetObjectItemCaseSensitive(env.get(), "data"); }
std::string Str(const cJSON* obj, const char* key) { return GetString(obj, key).value_or("<missing>"); }
double Num(const cJSON* obj, const char* key) { return GetNumber(obj, key).value_or(-1); }

}  // namespace mqdb::it
