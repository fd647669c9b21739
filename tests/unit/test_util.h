// Helpers shared by the unit tests: a temporary directory per test, JSON shorthands, waiting for a
// condition.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>

#include "storage/json.h"

namespace mqdb::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mqdb-unit-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Json J(const std::string& text) {
  auto r = ParsePayload(text);
  EXPECT_TRUE(r.ok()) << text << ": " << r.status().message();
  return r.ok() ? std::move(r.value()) : NewObject();
}

inline Json JAny(const std::string& text) { return Json(cJSON_Parse(text.c_str())); }

// Response data as it goes on the wire (it may hold stored records as raw, unparsed JSON text).
inline Json Wire(const cJSON* data) { return JAny(Print(data)); }

// Waits for a condition instead of sleeping a fixed time; returns its final value.
template <typename F>
bool WaitFor(F cond, std::chrono::milliseconds limit = std::chrono::milliseconds(5000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return cond();
}

}  // namespace mqdb::test
