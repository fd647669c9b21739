// Replays the fuzz seed corpus (and every crash input added to it) through the Service in the normal
// build: each input is a regression test of the request path.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "fuzz/fuzz_input.h"
#include "test_util.h"

namespace mqdb {
namespace {

TEST(FuzzCorpus, Replay) {
  test::TempDir dir;
  auto svc = Service::Open(fuzz::FuzzConfig(dir.path()));
  ASSERT_TRUE(svc.ok()) << svc.status().message();
  fuzz::NullSink sink;
  size_t n = 0;
  for (const auto& f : std::filesystem::directory_iterator(std::string(MQDB_SOURCE_DIR) + "/tests/fuzz/corpus")) {
    std::ifstream in(f.path(), std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    std::string data = bytes.str();
    for (int round = 0; round < 2; ++round) {  // twice: the repeat exercises dedup and "already exists"
      fuzz::RunOne(*svc.value(), sink, reinterpret_cast<const uint8_t*>(data.data()), data.size());
    }
    ++n;
  }
  EXPECT_GE(n, 20u);
}

}  // namespace
}  // namespace mqdb
