// libFuzzer target: topic parsing, payload and query parsing, and request execution against a
// temporary RocksDB, through the same Service the plugin uses. Built with clang and ASan+UBSan by
// tools/fuzz.sh; seeds in tests/fuzz/corpus (also replayed by the unit test FuzzCorpus.Replay).
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "fuzz_input.h"

namespace {

mqdb::Service* TheService() {
  static mqdb::Service* svc = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mqdb-fuzz-XXXXXX").string();
    std::string dir = mkdtemp(tmpl.data());
    auto s = mqdb::Service::Open(mqdb::fuzz::FuzzConfig(dir));
    if (!s.ok()) abort();
    return s.value().release();  // lives for the whole fuzzing run
  }();
  return svc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static mqdb::fuzz::NullSink sink;
  mqdb::fuzz::RunOne(*TheService(), sink, data, size);
  return 0;
}
